package roles

import (
	"net/netip"
	"strings"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
)

// etcd: a member of the static etcd cluster the plan lists, TLS for peers and clients
// (both signed by the etcd CA, which trusts nothing else), data in EtcdDataDir.
func (b *builder) etcd() error {
	n := b.n
	if !n.Has(plan.RoleEtcd) {
		return nil
	}
	for _, c := range []struct{ name, cert, key string }{
		{pki.EtcdCA, EtcdCACert, ""},
		{pki.EtcdServer(n.Host), EtcdServerCert, EtcdServerKey},
		{pki.EtcdPeer(n.Host), EtcdPeerCert, EtcdPeerKey},
		{pki.EtcdHealthcheckClient, EtcdHealthcheckCert, EtcdHealthcheckKey},
	} {
		if err := b.pair(c.name, c.cert, c.key); err != nil {
			return err
		}
	}
	ip := n.InternalIP
	var peers []string
	var members []string
	for _, m := range b.p.NodesWith(plan.RoleEtcd) {
		peers = append(peers, m.Host+"=https://"+netip.AddrPortFrom(m.InternalIP, 2380).String())
		members = append(members, m.Host)
	}
	flags := map[string]string{
		"name":                        n.Host,
		"data-dir":                    EtcdDataDir,
		"listen-client-urls":          "https://" + netip.AddrPortFrom(ip, 2379).String() + ",https://127.0.0.1:2379",
		"advertise-client-urls":       "https://" + netip.AddrPortFrom(ip, 2379).String(),
		"listen-peer-urls":            "https://" + netip.AddrPortFrom(ip, 2380).String(),
		"initial-advertise-peer-urls": "https://" + netip.AddrPortFrom(ip, 2380).String(),
		"initial-cluster":             strings.Join(peers, ","),
		"initial-cluster-state":       "new",
		"initial-cluster-token":       b.p.Name + "-etcd",
		"client-cert-auth":            "true",
		"trusted-ca-file":             EtcdCACert,
		"cert-file":                   EtcdServerCert,
		"key-file":                    EtcdServerKey,
		"peer-client-cert-auth":       "true",
		"peer-trusted-ca-file":        EtcdCACert,
		"peer-cert-file":              EtcdPeerCert,
		"peer-key-file":               EtcdPeerKey,
		// Only the members' own peer certificates (CN = host) may join: without it any
		// client certificate of the etcd CA would be accepted on the peer port.
		"peer-cert-allowed-cn": strings.Join(members, ","),
		"listen-metrics-urls":  "http://127.0.0.1:2381",
	}
	if err := b.unit("etcd.service", "etcd member", "etcd.service", b.unitData("", command(BinDir+"/etcd", flags, b.p.Overrides[plan.Etcd])), true); err != nil {
		return err
	}
	b.wait = append(b.wait, "etcd.service")
	b.listen(2379, "", "etcd.service")
	b.listen(2380, "", "etcd.service")
	b.listen(2381, "127.0.0.1", "etcd.service")
	b.artifact(CompEtcd)
	return nil
}

// listen records a port the unit opens: `kisgen verify` expects it, and the pre-flight
// wants it free (or held by the unit itself, on a rerun).
func (b *builder) listen(port int, addr, unit string) {
	p := Port{Port: port, Address: addr, Unit: unit}
	b.ports = append(b.ports, p)
	b.preflight = append(b.preflight, p)
}
