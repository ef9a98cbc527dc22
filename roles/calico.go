package roles

import (
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// Calico in kisgen: the upstream calico.yaml of the plan's release (CRDs, RBAC, the
// calico-node DaemonSet, calico-kube-controllers), pinned by sha256, under a
// kustomization that sets the plan's networking; then the cluster's Calico resources as
// typed documents (CalicoResourcesFile), applied once the CRDs are established.
// docs/network.md describes the result and where it differs from the guide.

// Calico files and names.
const (
	// CalicoResourcesFile is the add-on with the BGP configuration, the IP pool and, with
	// network policy on, the isolation policy.
	CalicoResourcesFile = "calico-resources.yaml"
	// CalicoIsolationPolicy is the GlobalNetworkPolicy that isolates pods outside the
	// system namespaces when the plan turns network policy on.
	CalicoIsolationPolicy = "kisgen-isolate-pods"
	// CalicoIsolationOrder puts the isolation policy after every Kubernetes
	// NetworkPolicy (Calico gives those order 1000), so a NetworkPolicy that allows
	// traffic is decided first.
	CalicoIsolationOrder = 2000
	// CalicoctlConfigPath is calicoctl's default configuration file, on every master.
	CalicoctlConfigPath = "/etc/calico/calicoctl.cfg"
	// CalicoBlockSize is the size of the pod address blocks Calico hands each node: /26,
	// 64 addresses, as the guide says.
	CalicoBlockSize = 26
	// CalicoDefaultPool is the name calico-node gives the pool it makes from its
	// environment; kisgen's IPPool document has the same name and the same settings.
	CalicoDefaultPool = "default-ipv4-ippool"
)

// calicoSystemNamespaces are left out of the isolation policy: the cluster's own add-ons
// run there and must keep working whatever policies users write.
var calicoSystemNamespaces = []string{"kube-node-lease", "kube-public", "kube-system"}

// calicoAutodetect is calico-node's IP_AUTODETECTION_METHOD. "first-found" (the plan's
// default) becomes kubernetes-internal-ip: the address the kubelet registers, which is
// the plan's internal IP (--node-ip). first-found takes the first interface, which on
// machines with a NAT interface besides the cluster network (qemu's user network,
// clouds with two NICs) is the same address on every node and breaks BGP.
func calicoAutodetect(p *plan.Plan) string {
	if m := p.Network.IPAutodetectionMethod; m != "" && m != "first-found" {
		return m
	}
	return "kubernetes-internal-ip"
}

// calicoIPIP is the pool's ipipMode: IP-in-IP between nodes in overlay mode, none in
// routed mode (BGP routes the pod ranges).
func calicoIPIP(p *plan.Plan) string {
	if p.Network.Mode == plan.ModeRouted {
		return "Never"
	}
	return "Always"
}

// calicoASNumber is the cluster's AS number (the plan's, or the guide's default).
func calicoASNumber(p *plan.Plan) uint32 {
	if p.Network.ASNumber != 0 {
		return p.Network.ASNumber
	}
	return plan.DefaultASNumber
}

// calico-node's probes. Upstream's manifest runs exec probes (calico-node -felix-live
// -bird-live, -felix-ready -bird-ready) every 10 s with a 10 s timeout; each starts the
// 130 MB calico-node binary in the container through runc, which on a small or busy node
// (one vCPU, an emulated VM) takes seconds of CPU (4 to 10 s measured on a loaded TCG
// master, against 0.2 s for an HTTP GET of felix's health port) and can miss the timeout:
// the probes then fail, kill and restart a healthy calico-node, and the restarts load the
// node further.
//
//   - Liveness is an HTTP GET of felix's health endpoint (FELIX_HEALTHENABLED, on
//     localhost:9099), as the Tigera operator configures calico-node: nothing is started,
//     and a felix that stops answering is restarted within a minute (6 failures, 10 s
//     apart). BIRD's own liveness is no longer probed; its BGP sessions stay in the
//     readiness probe.
//   - Readiness keeps the exec handler (-felix-ready -bird-ready: BIRD's sessions can
//     only be asked through its socket), every 20 s with a 30 s timeout, so a lost BGP
//     session marks the pod unready within 20 s and a busy minute is ridden out.
//
// calico-kube-controllers' exec probes (check-status -l, -r) run every 30 s with a 30 s
// timeout: upstream runs both every 10 s, the readiness probe with the default 1 s timeout.
var (
	calicoNodeLiveness     = httpInsteadOfExec("localhost", "/liveness", felixHealthPort, probeTiming{InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 10, FailureThreshold: 6})
	calicoNodeReadiness    = schedule(probeTiming{PeriodSeconds: 20, TimeoutSeconds: 30})
	calicoControllersProbe = schedule(probeTiming{PeriodSeconds: 30, TimeoutSeconds: 30})
)

// felixHealthPort is where felix answers /liveness and /readiness (FELIX_HEALTHPORT's
// default; calico.yaml sets FELIX_HEALTHENABLED).
const felixHealthPort = 9099

// calicoFiles is the kustomization over the upstream calico.yaml (fetched by the first
// master's bootstrap, sha256-pinned) that sets the plan's networking through
// calico-node's environment and the calico-config ConfigMap:
//
//   - overlay: IP-in-IP between nodes, MTU felix_input_mtu;
//   - routed: no encapsulation, MTU workload_mtu;
//   - both: the pod range as the pool in blocks of 64 addresses, outgoing NAT, the
//     node's internal IP as its address (calicoAutodetect), the plan's log level.
//
// The AS number is not in the environment: it is the cluster's, in the BGPConfiguration
// of CalicoResourcesFile, so every node takes it from one place.
func calicoFiles(p *plan.Plan) ([]File, error) {
	nw := p.Network
	mtu := nw.FelixInputMTU
	if nw.Mode == plan.ModeRouted {
		mtu = nw.WorkloadMTU
	}
	var ds workloadPatch
	ds.typeMeta = typeMeta{"apps/v1", "DaemonSet"}
	ds.Metadata = objectMeta{Name: "calico-node", Namespace: "kube-system"}
	ds.Spec.Template.Spec.Containers = []containerPatch{{Name: "calico-node", LivenessProbe: calicoNodeLiveness, ReadinessProbe: calicoNodeReadiness, Env: []envVar{
		{"CALICO_IPV4POOL_BLOCK_SIZE", strconv.Itoa(CalicoBlockSize)},
		{"CALICO_IPV4POOL_CIDR", nw.PodCIDR.String()},
		{"CALICO_IPV4POOL_IPIP", calicoIPIP(p)},
		{"CALICO_IPV4POOL_NAT_OUTGOING", "true"},
		{"CALICO_IPV4POOL_VXLAN", "Never"},
		// Felix in the iptables dataplane removes the eBPF connect-time load balancer a
		// previous eBPF-mode run may have left; kisgen never runs that mode, and felix
		// built without cgo (kisgen's source-built calico/node) has only libbpf stubs,
		// which panic there: felix would restart every few seconds and never be ready.
		{"FELIX_DebugSkipCTLBCleanup", "true"},
		{"FELIX_LOGSEVERITYSCREEN", nw.LogLevel},
		{"IP_AUTODETECTION_METHOD", calicoAutodetect(p)},
	}}}
	var kc workloadPatch
	kc.typeMeta = typeMeta{"apps/v1", "Deployment"}
	kc.Metadata = objectMeta{Name: "calico-kube-controllers", Namespace: "kube-system"}
	kc.Spec.Template.Spec.Containers = []containerPatch{{Name: "calico-kube-controllers", LivenessProbe: calicoControllersProbe, ReadinessProbe: calicoControllersProbe}}
	cm := configMap{typeMeta: typeMeta{"v1", "ConfigMap"}, Metadata: objectMeta{Name: "calico-config", Namespace: "kube-system"},
		Data: map[string]string{"veth_mtu": strconv.Itoa(mtu)}}
	k := kustomization{typeMeta: typeMeta{"kustomize.config.k8s.io/v1beta1", "Kustomization"},
		Resources: []string{"calico.yaml"}, Patches: []kustomizePatch{{Path: "calico-node-env.yaml"}, {Path: "calico-kube-controllers-probes.yaml"}, {Path: "calico-config.yaml"}}}
	var out []File
	for _, d := range []struct {
		path, what string
		v          any
	}{
		{"kustomization.yaml", "Calico kustomization", k},
		{"calico-node-env.yaml", "Calico settings (calico-node environment, probe schedule)", ds},
		{"calico-kube-controllers-probes.yaml", "calico-kube-controllers' probe schedule", kc},
		{"calico-config.yaml", "Calico MTU", cm},
	} {
		text, err := marshalYAML(d.v)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Path: d.path, Content: text, What: d.what})
	}
	return out, nil
}

// Calico's resources as the crd.projectcalico.org/v1 custom resources its
// Kubernetes datastore keeps (same spec as projectcalico.org/v3; only the fields kisgen
// sets, all of them, since the custom resources get no defaults).

type calicoBGPConfiguration struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ASNumber              uint32 `yaml:"asNumber"`
		NodeToNodeMeshEnabled bool   `yaml:"nodeToNodeMeshEnabled"`
		LogSeverityScreen     string `yaml:"logSeverityScreen"`
	} `yaml:"spec"`
}

type calicoIPPool struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		CIDR         string   `yaml:"cidr"`
		BlockSize    int      `yaml:"blockSize"`
		IPIPMode     string   `yaml:"ipipMode"`
		VXLANMode    string   `yaml:"vxlanMode"`
		NATOutgoing  bool     `yaml:"natOutgoing"`
		NodeSelector string   `yaml:"nodeSelector"`
		AllowedUses  []string `yaml:"allowedUses"`
	} `yaml:"spec"`
}

type calicoGlobalNetworkPolicy struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Tier     string       `yaml:"tier"`
		Order    int          `yaml:"order"`
		Selector string       `yaml:"selector"`
		Types    []string     `yaml:"types"`
		Ingress  []calicoRule `yaml:"ingress"`
		Egress   []calicoRule `yaml:"egress,omitempty"`
	} `yaml:"spec"`
}

type calicoRule struct {
	Action      string        `yaml:"action"`
	Protocol    string        `yaml:"protocol,omitempty"`
	Source      *calicoEntity `yaml:"source,omitempty"`
	Destination *calicoEntity `yaml:"destination,omitempty"`
}

type calicoEntity struct {
	Selector          string `yaml:"selector,omitempty"`
	NamespaceSelector string `yaml:"namespaceSelector,omitempty"`
}

// calicoctlConfig is calicoctl's CalicoAPIConfig: the Kubernetes datastore through the
// master's admin kubeconfig (readable by root only, so calicoctl is too).
type calicoctlConfig struct {
	typeMeta `yaml:",inline"`
	Metadata struct{} `yaml:"metadata"`
	Spec     struct {
		DatastoreType string `yaml:"datastoreType"`
		Kubeconfig    string `yaml:"kubeconfig"`
	} `yaml:"spec"`
}

const calicoCRDGroup = "crd.projectcalico.org/v1"

// calicoResources is CalicoResourcesFile: the cluster's AS number and BGP full mesh, the
// pod pool and, with network policy on, the isolation policy.
func calicoResources(p *plan.Plan) (string, error) {
	var bgp calicoBGPConfiguration
	bgp.typeMeta = typeMeta{calicoCRDGroup, "BGPConfiguration"}
	bgp.Metadata = objectMeta{Name: "default", Labels: managedLabels()}
	bgp.Spec.ASNumber = calicoASNumber(p)
	bgp.Spec.NodeToNodeMeshEnabled = true
	bgp.Spec.LogSeverityScreen = calicoLogSeverity(p.Network.LogLevel)

	var pool calicoIPPool
	pool.typeMeta = typeMeta{calicoCRDGroup, "IPPool"}
	pool.Metadata = objectMeta{Name: CalicoDefaultPool, Labels: managedLabels()}
	pool.Spec.CIDR = p.Network.PodCIDR.String()
	pool.Spec.BlockSize = CalicoBlockSize
	pool.Spec.IPIPMode = calicoIPIP(p)
	pool.Spec.VXLANMode = "Never"
	pool.Spec.NATOutgoing = true
	pool.Spec.NodeSelector = "all()"
	pool.Spec.AllowedUses = []string{"Workload", "Tunnel"}

	docs := []any{bgp, pool}
	if p.Network.NetworkPolicy {
		docs = append(docs, calicoIsolation())
	}
	return marshalYAMLDocs(docs...)
}

// calicoIsolation is the default-deny policy of network policy "on": every pod outside
// the system namespaces accepts only what a policy allows (a NetworkPolicy, the
// declared-ports controller's policies, a Calico policy) plus traffic from the system
// namespaces. Egress stays open, as the guide restricts access to pods, not from them:
// a port another pod declares is reachable from every pod. Traffic from a node to its
// own pods (kubelet probes) is never policed by Calico.
func calicoIsolation() calicoGlobalNetworkPolicy {
	var g calicoGlobalNetworkPolicy
	g.typeMeta = typeMeta{calicoCRDGroup, "GlobalNetworkPolicy"}
	g.Metadata = objectMeta{Name: CalicoIsolationPolicy, Labels: managedLabels()}
	g.Spec.Tier = "default"
	g.Spec.Order = CalicoIsolationOrder
	quoted := make([]string, len(calicoSystemNamespaces))
	for i, ns := range calicoSystemNamespaces {
		quoted[i] = "'" + ns + "'"
	}
	system := "{" + strings.Join(quoted, ", ") + "}"
	g.Spec.Selector = "projectcalico.org/namespace not in " + system
	g.Spec.Types = []string{"Ingress"}
	g.Spec.Ingress = []calicoRule{
		{Action: "Allow", Source: &calicoEntity{NamespaceSelector: "projectcalico.org/name in " + system}},
		{Action: "Deny"},
	}
	return g
}

// calicoLogSeverity is Calico's spelling of the plan's log level.
func calicoLogSeverity(level string) string {
	switch level {
	case "debug":
		return "Debug"
	case "warning":
		return "Warning"
	}
	return "Info"
}

// calicoctlFile is calicoctl's configuration on a master.
func calicoctlFile() (string, error) {
	var c calicoctlConfig
	c.typeMeta = typeMeta{"projectcalico.org/v3", "CalicoAPIConfig"}
	c.Spec.DatastoreType = "kubernetes"
	c.Spec.Kubeconfig = AdminKubeconfig
	return marshalYAML(c)
}
