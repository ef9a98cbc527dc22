package conformance

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Mode is a named set of the suite's specs.
type Mode string

// The modes of `kisgen conformance run`.
const (
	// ModeQuick is a smoke test of the cluster network in a few specs: DNS answers for
	// the cluster and for Services, pods on every node reach each other, a ClusterIP and
	// a NodePort Service serve their pods.
	ModeQuick Mode = "quick"
	// ModeNetwork is every [sig-network] [Conformance] spec (pod to pod across nodes,
	// Services, DNS for pods and Services, EndpointSlices, the proxy subresource) plus
	// the specs beyond conformance that exercise what kisgen installs: DNS search paths
	// and hostNetwork pods, Services from pods and from nodes over UDP, and
	// NetworkPolicy as Calico enforces it.
	ModeNetwork Mode = "network"
	// ModeCertified is the whole [Conformance] set, what the CNCF certification runs.
	ModeCertified Mode = "certified"
)

// Modes are every mode, the default first.
func Modes() []Mode { return []Mode{ModeNetwork, ModeQuick, ModeCertified} }

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	for _, m := range Modes() {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, 0, len(Modes()))
	for _, m := range Modes() {
		names = append(names, string(m))
	}
	return "", fmt.Errorf("%w %q: use %s", ErrUnknownMode, s, strings.Join(names, ", "))
}

// quickSpecs are ModeQuick's specs, one each for the pieces kisgen installs that every
// pod uses: CoreDNS (the cluster's names, a Service's names and SRV records, asked from
// a glibc and an agnhost resolver), Calico (pods on every node reach each other: the
// spec runs a server pod per node and a client that calls each), kube-proxy (a
// ClusterIP Service, then a NodePort reached on every node).
var quickSpecs = []string{
	"[sig-network] DNS should provide DNS for the cluster [Conformance]",
	"[sig-network] DNS should provide DNS for services [Conformance]",
	"[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [Conformance] [NodeConformance]",
	"[sig-network] Services should serve a basic endpoint from pods [Conformance]",
	"[sig-network] Services should be able to create a functioning NodePort service [Conformance]",
}

// networkExtraSpecs are the specs ModeNetwork runs besides [sig-network] [Conformance]:
// CoreDNS's search path (partial names, a pod's own resolv.conf options, hostNetwork
// pods with ClusterFirstWithHostNet, which kisgen's kubelet configuration serves),
// kube-proxy from pods and from nodes over TCP and UDP, and NetworkPolicy (the API, and
// five representative policies of the netpol suite, each of which runs 9 pods in 3
// namespaces and probes every pair, so all 45 would take hours under emulation).
var networkExtraSpecs = []string{
	"[sig-network] DNS should resolve DNS of partial qualified names for the cluster [LinuxOnly]",
	"[sig-network] DNS should support configurable pod resolv.conf",
	"[sig-network] DNS HostNetwork should resolve DNS of partial qualified names for services on hostNetwork pods with dnsPolicy: ClusterFirstWithHostNet [LinuxOnly]",
	"[sig-network] Networking Granular Checks: Services should function for pod-Service: http",
	"[sig-network] Networking Granular Checks: Services should function for pod-Service: udp",
	"[sig-network] Networking Granular Checks: Services should function for node-Service: http",
	"[sig-network] Networking Granular Checks: Services should function for node-Service: udp",
	"[sig-network] Netpol API should support creating NetworkPolicy API operations",
	"[sig-network] Netpol NetworkPolicy between server and client should support a 'default-deny-ingress' policy [Feature:NetworkPolicy]",
	"[sig-network] Netpol NetworkPolicy between server and client should enforce policy to allow traffic from pods within server namespace based on PodSelector [Feature:NetworkPolicy]",
	"[sig-network] Netpol NetworkPolicy between server and client should deny ingress from pods on other namespaces [Feature:NetworkPolicy]",
	"[sig-network] Netpol NetworkPolicy between server and client should allow ingress access on one named port [Feature:NetworkPolicy]",
	"[sig-network] Netpol NetworkPolicy between server and client should deny egress from pods based on PodSelector [Feature:NetworkPolicy]",
}

// networkConformance selects the [sig-network] [Conformance] specs.
const networkConformance = `\[sig-network\].*\[Conformance\]`

// Unrunnable is a set of specs kisgen leaves out because it cannot give them what they
// need offline, with the reason.
type Unrunnable struct {
	// Specs are the specs' full names, as `e2e.test --list-tests` prints them.
	Specs []string `json:"specs"`
	// Reason says what they need.
	Reason string `json:"reason"`
}

// unrunnable are the [Conformance] specs of each suite release that need an image
// `kisgen mirror build --conformance` does not make, or a registry. Every other image
// of the conformance specs is built (roles.ConformanceImages).
var unrunnable = map[string][]Unrunnable{
	"v1.37.2": {
		{Specs: []string{"[sig-api-machinery] Aggregator Should be able to support the 1.17 Sample API Server using the current Aggregator [LinuxOnly] [Conformance]"},
			Reason: "runs the sample API server with its own etcd: registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2 and registry.k8s.io/etcd:3.7.0-0 are not built by kisgen"},
		{Specs: []string{"[sig-cli] Kubectl client Update Demo should create and stop a replication controller [Conformance]",
			"[sig-cli] Kubectl client Update Demo should scale a replication controller [Conformance]"},
			Reason: "runs registry.k8s.io/e2e-test-images/nautilus:1.8, which kisgen does not build"},
		{Specs: []string{"[sig-node] ImageVolume should succeed with pod and pull policy of Always [LinuxOnly] [MinimumKubeletVersion:1.35] [Conformance]"},
			Reason: "pulls registry.k8s.io/e2e-test-images/kitten:1.8 with imagePullPolicy Always: needs a registry, and kisgen does not build the image"},
		{Specs: []string{"[sig-node] Security Context when creating containers with AllowPrivilegeEscalation should not allow privilege escalation when false [LinuxOnly] [Conformance] [NodeConformance]"},
			Reason: "runs registry.k8s.io/e2e-test-images/nonewprivs:1.4 (a setuid program on Alpine), which kisgen does not build"},
	},
}

// Selection is what a run asks the suite for: ginkgo's focus and skip expressions (a
// spec runs when its text matches a focus and no skip) and the specs kisgen leaves out,
// with the reasons.
type Selection struct {
	Mode  Mode     `json:"mode"`
	Focus []string `json:"focus"`
	Skip  []string `json:"skip,omitempty"`
	// Unrunnable are the specs the skip expressions leave out because kisgen cannot run
	// them offline (images it does not build).
	Unrunnable []Unrunnable `json:"unrunnable,omitempty"`
	// Timeout bounds the whole suite (ginkgo's --ginkgo.timeout, whose default of an
	// hour is too short for most modes under emulation).
	Timeout time.Duration `json:"timeout"`
}

// modeTimeouts are each mode's suite timeout: generous for clusters of emulated VMs,
// which run specs many times slower than the suite's own expectations.
var modeTimeouts = map[Mode]time.Duration{ModeQuick: time.Hour, ModeNetwork: 6 * time.Hour, ModeCertified: 24 * time.Hour}

// Select is the selection of mode for the suite of Kubernetes version (e.g. v1.37.2).
// focus, when not empty, replaces the mode's focus (as Sonobuoy's --e2e-focus does);
// skip is added to the mode's skips. The specs kisgen cannot run are always skipped.
func Select(mode Mode, version, focus, skip string) (Selection, error) {
	s := Selection{Mode: mode, Timeout: modeTimeouts[mode]}
	switch mode {
	case ModeQuick:
		s.Focus = []string{exactly(quickSpecs)}
	case ModeNetwork:
		s.Focus = []string{networkConformance, exactly(networkExtraSpecs)}
	case ModeCertified:
		s.Focus = []string{`\[Conformance\]`}
	default:
		return Selection{}, fmt.Errorf("%w %q", ErrUnknownMode, mode)
	}
	for name, re := range map[string]string{"--focus": focus, "--skip": skip} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return Selection{}, fmt.Errorf("%w: %s %q: %v", ErrBadRegexp, name, re, err)
		}
	}
	if focus != "" {
		s.Focus = []string{focus}
	}
	if skip != "" {
		s.Skip = append(s.Skip, skip)
	}
	// Only what the focus would run: the quick and network modes' expressions stay free
	// of certified's exceptions.
	focusOnly, err := NewMatcher(Selection{Focus: s.Focus})
	if err != nil {
		return Selection{}, err
	}
	var names []string
	for _, u := range unrunnable[version] {
		var specs []string
		for _, n := range u.Specs {
			if focusOnly.Runs(n) {
				specs = append(specs, n)
			}
		}
		if len(specs) > 0 {
			s.Unrunnable = append(s.Unrunnable, Unrunnable{Specs: specs, Reason: u.Reason})
			names = append(names, specs...)
		}
	}
	if len(names) > 0 {
		s.Skip = append(s.Skip, exactly(names))
	}
	return s, nil
}

// exactly is an expression that matches each of the named specs and nothing else
// (ginkgo matches focus and skip against "Kubernetes e2e suite " + the spec's text).
func exactly(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = regexp.QuoteMeta(n)
	}
	sort.Strings(q)
	return suitePrefix + "(" + strings.Join(q, "|") + ")$"
}

// suitePrefix is what ginkgo puts before a spec's text when it matches the focus and
// skip expressions: the suite's description and a space (ginkgo's ApplyFocusToSpecs).
const suitePrefix = `^Kubernetes e2e suite `
