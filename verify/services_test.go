package verify

import (
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
)

// fakeDNS is a DNS server on a loopback UDP port: it answers every A query with addr,
// or with rcode, or not at all.
type fakeDNS struct {
	conn net.PacketConn
	mu   sync.Mutex
	addr netip.Addr
	// rcode, when not 0, is the response code of every answer (3: NXDOMAIN).
	rcode byte
	// silent drops every query.
	silent bool
}

func startFakeDNS(t testing.TB, answer netip.Addr) *fakeDNS {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: conn, addr: answer}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			d.mu.Lock()
			addr, rcode, silent := d.addr, d.rcode, d.silent
			d.mu.Unlock()
			if silent || n < 12 {
				continue
			}
			q := buf[:n]
			resp := append([]byte(nil), q[:2]...)
			resp = append(resp, 0x81, 0x80|rcode) // QR RD RA, rcode
			resp = append(resp, 0, 1, 0, 1, 0, 0, 0, 0)
			if rcode != 0 {
				resp[7] = 0 // no answer
			}
			resp = append(resp, q[12:]...)
			if rcode == 0 {
				// The answer's name points at the question's (offset 12).
				resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4)
				a := addr.As4()
				resp = append(resp, a[:]...)
			}
			conn.WriteTo(resp, from)
		}
	}()
	return d
}

func (d *fakeDNS) set(fn func(d *fakeDNS)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d)
}

func (d *fakeDNS) port() uint16 { return uint16(d.conn.LocalAddr().(*net.UDPAddr).Port) }

// healthyServices points the node's Services at a TLS server standing in for the
// kubernetes Service (it answers 401, as the API server does to an anonymous request)
// and a DNS server that resolves its name, both real servers on loopback.
func (f *fixtureNode) healthyServices() {
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
	}))
	f.t.Cleanup(api.Close)
	want := netip.MustParseAddr("172.17.0.1")
	f.dns = startFakeDNS(f.t, want)
	f.target.Expect.Services = &ServicesExpect{Kubernetes: netip.MustParseAddrPort(api.Listener.Addr().String()),
		DNS: netip.MustParseAddr("127.0.0.1"), DNSPort: f.dns.port(), Name: "kubernetes.default.svc.cluster.local", Want: want}
}

// TestDNSQueryAndAnswer: the query is a well-formed A query for the name, and the parser
// reads A records after a compressed name and refuses what is not an answer.
func TestDNSQueryAndAnswer(t *testing.T) {
	q := dnsQuery(0x1234, "kubernetes.default.svc.cluster.local.")
	if binary.BigEndian.Uint16(q) != 0x1234 || q[2] != 1 || binary.BigEndian.Uint16(q[4:]) != 1 || string(q[13:23]) != "kubernetes" || q[len(q)-5] != 0 {
		t.Fatalf("query % x", q)
	}
	for _, tc := range []struct {
		name, hex string
		want      string
	}{
		{"A record", "12 34 81 80 00 01 00 01 00 00 00 00 01 61 00 00 01 00 01 c0 0c 00 01 00 01 00 00 00 1e 00 04 ac 11 00 01", "[172.17.0.1]"},
		{"NXDOMAIN", "12 34 81 83 00 01 00 00 00 00 00 00 01 61 00 00 01 00 01", "rcode NXDOMAIN"},
		{"another ID", "99 99 81 80 00 01 00 00 00 00 00 00", "not the answer"},
		{"nothing", "", "no answer within 5 s"},
		{"truncated", "12 34 81 80 00 01 00 01 00 00 00 00 01 61 00 00 01 00 01 c0 0c 00 01", "truncated answer"},
	} {
		addrs, err := parseDNSAnswer(tc.hex, 0x1234)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = netipString(addrs)
		}
		if !containsAll(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func netipString(a []netip.Addr) string {
	s := "["
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x.String()
	}
	return s + "]"
}

func containsAll(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0))
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
