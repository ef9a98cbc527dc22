package pki

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// kind is what a certificate is for; it decides the key usages.
type kind int

const (
	kindCA     kind = iota // cert sign, CRL sign, basic constraints CA (path length 0)
	kindServer             // digital signature (+ key encipherment for RSA), server auth
	kindClient             // digital signature (+ key encipherment for RSA), client auth
	kindPeer               // etcd peers are both: server auth and client auth
)

func (k kind) String() string {
	switch k {
	case kindCA:
		return "ca"
	case kindServer:
		return "server"
	case kindClient:
		return "client"
	case kindPeer:
		return "peer"
	}
	return "unknown"
}

// spec is what one certificate must look like according to the plan.
type spec struct {
	name   string
	host   string // the host whose node file holds it; "" for cluster-wide items in pki/
	kind   kind
	issuer string // the CA name that signs it ("" for a CA)
	cn     string
	org    []string
	dns    []string // DNS SANs, deduplicated, in plan order
	ips    []string // IP SANs, canonical text, deduplicated, in plan order
}

// hosts returns the SANs as cfssl takes them: DNS names then IP addresses.
func (s *spec) hosts() []string {
	if len(s.dns)+len(s.ips) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.dns)+len(s.ips))
	out = append(out, s.dns...)
	return append(out, s.ips...)
}

// sans collects SANs, sorting each entry into DNS names or IP addresses, without
// duplicates.
type sans struct {
	dns, ips []string
	seen     map[string]bool
}

func (s *sans) add(values ...string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if a, err := netip.ParseAddr(v); err == nil {
			v = a.Unmap().String()
			if !s.seen[v] {
				s.seen[v] = true
				s.ips = append(s.ips, v)
			}
			continue
		}
		v = strings.ToLower(v)
		if !s.seen[v] {
			s.seen[v] = true
			s.dns = append(s.dns, v)
		}
	}
}

func (s *sans) addAddr(addrs ...netip.Addr) {
	for _, a := range addrs {
		if a.IsValid() {
			s.add(a.String())
		}
	}
}

// caSpecs are the three CAs, in the order they are created.
func caSpecs(p *plan.Plan) []*spec {
	return []*spec{
		{name: CA, kind: kindCA, cn: p.Name},
		{name: EtcdCA, kind: kindCA, cn: p.Name + "-etcd"},
		{name: FrontProxyCA, kind: kindCA, cn: p.Name + "-front-proxy"},
	}
}

// leafSpecs lists every leaf certificate the plan needs, in a fixed order: etcd, API
// servers and the control plane's clients, then per Kubernetes node. Two specs with the
// same name are an error (host names that make names collide).
func leafSpecs(p *plan.Plan) ([]*spec, error) {
	var out []*spec
	add := func(s *spec) { out = append(out, s) }

	for _, n := range p.NodesWith(plan.RoleEtcd) {
		var h sans
		h.add(n.Host)
		h.addAddr(n.IP, n.InternalIP)
		h.add("127.0.0.1", "localhost")
		// Server and client auth, as kubeadm's: etcd's gRPC gateway (its JSON API, which
		// kisgen-sync asks for the members) dials the server with this certificate, and
		// --client-cert-auth refuses a server-only one. The peer port still refuses it:
		// its CN is not the peers' (--peer-cert-allowed-cn).
		add(&spec{name: EtcdServer(n.Host), host: n.Host, kind: kindPeer, issuer: EtcdCA, cn: n.Host, dns: h.dns, ips: h.ips})
		add(&spec{name: EtcdPeer(n.Host), host: n.Host, kind: kindPeer, issuer: EtcdCA, cn: EtcdPeerCN, dns: h.dns, ips: h.ips})
	}
	add(&spec{name: EtcdAPIServerClient, kind: kindClient, issuer: EtcdCA, cn: EtcdAPIServerClientUser})
	add(&spec{name: EtcdHealthcheckClient, kind: kindClient, issuer: EtcdCA, cn: EtcdHealthcheckClientUser})

	for _, n := range p.NodesWith(plan.RoleMaster) {
		var h sans
		h.add("kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc."+ClusterDomain)
		if p.Network.ServiceCIDR.IsValid() {
			h.addAddr(p.FirstServiceIP())
		}
		h.add("127.0.0.1", "localhost", n.Host)
		h.addAddr(n.IP, n.InternalIP)
		h.add(p.LoadBalancer)
		h.add(p.Certificates.ExtraSANs...)
		add(&spec{name: APIServer(n.Host), host: n.Host, kind: kindServer, issuer: CA, cn: APIServerCN, dns: h.dns, ips: h.ips})
	}
	add(&spec{name: APIServerKubeletClient, kind: kindClient, issuer: CA, cn: APIServerKubeletClientUser})
	add(&spec{name: FrontProxyClient, kind: kindClient, issuer: FrontProxyCA, cn: FrontProxyClientUser})
	add(&spec{name: Admin, kind: kindClient, issuer: CA, cn: AdminUser, org: []string{AdminGroup}})
	add(&spec{name: ControllerManager, kind: kindClient, issuer: CA, cn: ControllerManagerUser})
	add(&spec{name: Scheduler, kind: kindClient, issuer: CA, cn: SchedulerUser})
	add(&spec{name: KubeProxy, kind: kindClient, issuer: CA, cn: KubeProxyUser})
	add(&spec{name: CalicoNode, kind: kindClient, issuer: CA, cn: CalicoNodeUser})
	add(&spec{name: CalicoCNI, kind: kindClient, issuer: CA, cn: CalicoCNIUser})
	add(&spec{name: HostsReader, kind: kindClient, issuer: CA, cn: HostsReaderUser})

	for _, n := range p.Nodes {
		if !n.IsKubernetesNode() {
			continue
		}
		add(&spec{name: Kubelet(n.Host), host: n.Host, kind: kindClient, issuer: CA, cn: NodeUserPrefix + n.Host, org: []string{NodesGroup}})
		var h sans
		h.add(n.Host)
		h.addAddr(n.IP, n.InternalIP)
		add(&spec{name: KubeletServing(n.Host), host: n.Host, kind: kindServer, issuer: CA, cn: n.Host, dns: h.dns, ips: h.ips})
	}

	seen := map[string]*spec{CA: nil, EtcdCA: nil, FrontProxyCA: nil, ServiceAccount: nil}
	for _, s := range out {
		if prev, dup := seen[s.name]; dup {
			what := "a CA or the service-account key"
			if prev != nil {
				what = fmt.Sprintf("another certificate (CN %s)", prev.cn)
			}
			return nil, fmt.Errorf("%w: %s (CN %s) and %s: rename the host so that no certificate name is shared", ErrNameClash, s.name, s.cn, what)
		}
		seen[s.name] = s
	}
	return out, nil
}

// kubeconfigUsers are the certificates that get a kubeconfig, in a fixed order.
func kubeconfigUsers(p *plan.Plan) []string {
	out := []string{Admin, ControllerManager, Scheduler, KubeProxy, CalicoNode, CalicoCNI}
	for _, n := range p.Nodes {
		if n.IsKubernetesNode() {
			out = append(out, Kubelet(n.Host))
		}
	}
	return out
}

// certSANs returns a certificate's DNS and IP SANs, each sorted, in the same text form
// specs use.
func certSANs(dns []string, ips []net.IP) ([]string, []string) {
	var s sans
	s.add(dns...)
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			s.add(a.Unmap().String())
		}
	}
	d, i := append([]string(nil), s.dns...), append([]string(nil), s.ips...)
	sort.Strings(d)
	sort.Strings(i)
	return d, i
}

// sortedCopy returns a sorted copy of s.
func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
