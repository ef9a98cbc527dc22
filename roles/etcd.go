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
	flags := map[string]string{
		"name":                        n.Host,
		"data-dir":                    EtcdDataDir,
		"listen-client-urls":          "https://" + netip.AddrPortFrom(ip, 2379).String() + ",https://127.0.0.1:2379",
		"advertise-client-urls":       "https://" + netip.AddrPortFrom(ip, 2379).String(),
		"listen-peer-urls":            EtcdPeerURL(n),
		"initial-advertise-peer-urls": EtcdPeerURL(n),
		"initial-cluster-token":       b.p.Name + "-etcd",
		"client-cert-auth":            "true",
		"trusted-ca-file":             EtcdCACert,
		"cert-file":                   EtcdServerCert,
		"key-file":                    EtcdServerKey,
		"peer-client-cert-auth":       "true",
		"peer-trusted-ca-file":        EtcdCACert,
		"peer-cert-file":              EtcdPeerCert,
		"peer-key-file":               EtcdPeerKey,
		// Only peer certificates may join (all share pki.EtcdPeerCN): without it any client
		// certificate of the etcd CA would be accepted on the peer port. One CN for all
		// keeps this flag the same when members come and go.
		"peer-cert-allowed-cn": pki.EtcdPeerCN,
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

// EtcdPeerURL is an etcd member's peer URL: what the membership lists for it.
func EtcdPeerURL(n *plan.Node) string {
	return "https://" + netip.AddrPortFrom(n.InternalIP, 2380).String()
}

// EtcdInitialCluster is the founding membership of a plan's etcd cluster,
// NAME=PEER_URL,… in plan order: what its first members start with. Once a cluster
// runs, its founding membership is history (the record of intent keeps it, see
// Inputs.EtcdInitialCluster): members added later join the running cluster instead.
func EtcdInitialCluster(p *plan.Plan) string {
	var peers []string
	for _, m := range p.NodesWith(plan.RoleEtcd) {
		peers = append(peers, m.Host+"="+EtcdPeerURL(m))
	}
	return strings.Join(peers, ",")
}

// etcdMembership is what kisgen-etcd-join reads from node.env: the founding membership
// when this node is one of the founding members ("" otherwise: it can only join), and
// the client URLs it asks for the running cluster's membership. A founding member asks
// only founding members, so that its user-data stays the same when members are added;
// a later member also asks the plan's other etcd nodes.
func (b *builder) etcdMembership() (initial, endpoints string) {
	if !b.n.Has(plan.RoleEtcd) {
		return "", ""
	}
	founding := b.c.in.EtcdInitialCluster
	if founding == "" {
		founding = EtcdInitialCluster(b.p)
	}
	self := b.n.Host + "=" + EtcdPeerURL(b.n)
	var eps []string
	seen := map[string]bool{strings.TrimSuffix(EtcdPeerURL(b.n), ":2380"): true}
	add := func(peerURL string) {
		base, ok := strings.CutSuffix(peerURL, ":2380")
		if ok && !seen[base] {
			seen[base] = true
			eps = append(eps, base+":2379")
		}
	}
	isFounding := false
	for _, m := range strings.Split(founding, ",") {
		if m == self {
			isFounding = true
		}
		if _, u, ok := strings.Cut(m, "="); ok {
			add(u)
		}
	}
	if !isFounding {
		for _, m := range b.p.NodesWith(plan.RoleEtcd) {
			add(EtcdPeerURL(m))
		}
		founding = ""
	}
	return founding, strings.Join(eps, ",")
}
