package verify

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ServicesExpect is set on every node that runs a kubelet: the cluster's Services must be
// reachable from the node itself (kube-proxy's rules and the route to the service range,
// kisgen-service-route) and, with cluster DNS on, CoreDNS must answer there.
type ServicesExpect struct {
	// Kubernetes is the kubernetes Service's ClusterIP:443: any HTTP answer over TLS
	// proves the node reaches a Service (the API servers behind it).
	Kubernetes netip.AddrPort
	// DNS, when valid, is the cluster DNS Service's ClusterIP (port 53): asked for Name
	// over UDP, it must answer with the A record Want.
	DNS  netip.Addr
	Name string
	Want netip.Addr
	// DNSPort is the DNS Service's port; 0 means 53.
	DNSPort uint16
}

// checkServices proves that Services work from the node: the kubernetes Service answers
// through kube-proxy, and CoreDNS, asked through its Service, resolves the kubernetes
// Service's name. Both requests leave from the node, never from this machine.
var checkServices = &check{
	Name:  "services",
	Title: "Services are reachable from the node and cluster DNS answers",
	skip: func(t *Target) string {
		if t.Expect.Services == nil {
			return "no kubelet or kube-proxy on this node"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		ps := []probe{{false, serviceArgv(t.Expect.Services)}}
		if t.Expect.Services.DNS.IsValid() {
			ps = append(ps, probe{false, dnsArgv(t.Expect.Services)})
		}
		return ps
	},
	run: func(ctx context.Context, n *node) CheckResult {
		s := n.t.Expect.Services
		argv := serviceArgv(s)
		out, err := n.exec(ctx, false, argv...)
		if err != nil {
			return failed(err)
		}
		code := strings.TrimSpace(string(out.Stdout))
		if out.Exit != 0 || len(code) != 3 || code == "000" {
			return failedf("the kubernetes Service %s does not answer from this node (route to the service range and kube-proxy's rules: ip route get %s; journalctl -u kube-proxy): %s",
				s.Kubernetes, s.Kubernetes.Addr(), commandFailed(argv, out))
		}
		done := fmt.Sprintf("kubernetes Service %s answers (HTTP %s)", s.Kubernetes, code)
		if !s.DNS.IsValid() {
			return passed("%s; cluster DNS is off", done)
		}
		argv = dnsArgv(s)
		out, err = n.exec(ctx, false, argv...)
		if err != nil {
			return failed(err)
		}
		if out.Exit != 0 {
			return failedf("%s, but cluster DNS %s did not answer (kubectl -n kube-system get pods -l k8s-app=kube-dns): %s", done, s.DNS, commandFailed(argv, out))
		}
		addrs, err := parseDNSAnswer(string(out.Stdout), dnsQueryID)
		if err != nil {
			return failedf("%s, but cluster DNS %s, asked for %s: %v (kubectl -n kube-system get pods -l k8s-app=kube-dns; kubectl -n kube-system logs -l k8s-app=kube-dns)", done, s.DNS, s.Name, err)
		}
		for _, a := range addrs {
			if a == s.Want {
				return passed("%s; cluster DNS %s resolves %s to %s", done, s.DNS, s.Name, a)
			}
		}
		return failedf("%s, but cluster DNS %s resolves %s to %v, want %s", done, s.DNS, s.Name, addrs, s.Want)
	},
}

// serviceArgv asks the kubernetes Service for /readyz over TLS and prints the HTTP status
// (401 or 403 without credentials is an answer too).
func serviceArgv(s *ServicesExpect) []string {
	return []string{"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
		"https://" + s.Kubernetes.String() + "/readyz"}
}

// dnsQueryID is the ID of the query dnsArgv sends.
const dnsQueryID = 0x6b67

// dnsArgv sends one DNS query for s.Name (type A, class IN, recursion desired) to
// s.DNS (port 53) over UDP with bash's /dev/udp, and prints the answer's bytes in hex (od): no
// DNS tool needs to be on the node, only bash and coreutils.
func dnsArgv(s *ServicesExpect) []string {
	q := dnsQuery(dnsQueryID, s.Name)
	var esc strings.Builder
	for _, b := range q {
		fmt.Fprintf(&esc, "\\x%02x", b)
	}
	port := s.DNSPort
	if port == 0 {
		port = 53
	}
	// printf writes at each newline byte, and each write to a UDP socket is a datagram:
	// dd gathers the whole query (iflag=fullblock) and sends it in one write.
	script := fmt.Sprintf("exec 3<>/dev/udp/%s/%d && printf '%s' | dd bs=4096 count=1 iflag=fullblock 2>/dev/null >&3 && timeout 5 dd bs=4096 count=1 <&3 2>/dev/null | od -An -v -tx1",
		s.DNS, port, esc.String())
	return []string{"bash", "-c", script}
}

// dnsQuery is a DNS query message for name's A record.
func dnsQuery(id uint16, name string) []byte {
	msg := binary.BigEndian.AppendUint16(nil, id)
	msg = append(msg, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT 1
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		msg = append(msg, byte(len(label)))
		msg = append(msg, label...)
	}
	return append(msg, 0, 0, 1, 0, 1) // root; QTYPE A; QCLASS IN
}

// parseDNSAnswer reads od's hex of a DNS response and returns its A records.
func parseDNSAnswer(odHex string, id uint16) ([]netip.Addr, error) {
	b, err := hex.DecodeString(strings.Join(strings.Fields(odHex), ""))
	if err != nil {
		return nil, fmt.Errorf("unreadable answer: %w", err)
	}
	if len(b) < 12 {
		return nil, errors.New("no answer within 5 s")
	}
	if binary.BigEndian.Uint16(b) != id || b[2]&0x80 == 0 {
		return nil, errors.New("a message that is not the answer to the query")
	}
	if rcode := b[3] & 0x0f; rcode != 0 {
		names := map[byte]string{1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}
		return nil, fmt.Errorf("rcode %s", orDefault(names[rcode], strconv.Itoa(int(rcode))))
	}
	qd, an := int(binary.BigEndian.Uint16(b[4:])), int(binary.BigEndian.Uint16(b[6:]))
	off := 12
	skipName := func() error {
		for off < len(b) {
			l := int(b[off])
			switch {
			case l == 0:
				off++
				return nil
			case l&0xc0 == 0xc0: // a pointer ends the name
				off += 2
				return nil
			}
			off += 1 + l
		}
		return errors.New("truncated name")
	}
	for i := 0; i < qd; i++ {
		if err := skipName(); err != nil {
			return nil, err
		}
		off += 4
	}
	var addrs []netip.Addr
	for i := 0; i < an; i++ {
		if err := skipName(); err != nil {
			return nil, err
		}
		if off+10 > len(b) {
			return nil, errors.New("truncated answer")
		}
		typ, class, rdlen := binary.BigEndian.Uint16(b[off:]), binary.BigEndian.Uint16(b[off+2:]), int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			return nil, errors.New("truncated record")
		}
		if typ == 1 && class == 1 && rdlen == 4 {
			addrs = append(addrs, netip.AddrFrom4([4]byte(b[off:off+4])))
		}
		off += rdlen
	}
	if len(addrs) == 0 {
		return nil, errors.New("no A record")
	}
	return addrs, nil
}
