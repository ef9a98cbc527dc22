package plan

import (
	"net/netip"
	"sort"
	"strings"
)

// Defaults, from the Kismatic installer guide where it gives one. The `+default=` tags in
// plan/v1alpha1/types.go document the same values; a test keeps the two equal.
const (
	DefaultKubernetesVersion    = "v1.37.2"
	DefaultEtcdVersion          = "v3.7.3"
	DefaultContainerdVersion    = "v2.4.2"
	DefaultRuncVersion          = "v1.5.3"
	DefaultCNIPluginsVersion    = "v1.10.0"
	DefaultCalicoVersion        = "v3.32.1"
	DefaultCoreDNSVersion       = "v1.15.0"
	DefaultMetricsServerVersion = "v0.8.0"
	DefaultPauseVersion         = "3.10.1"

	DefaultPodCIDR     = "172.16.0.0/16"
	DefaultServiceCIDR = "172.17.0.0/16"
	DefaultASNumber    = 64511
	DefaultExpiry      = "17520h"
	DefaultRenewBefore = "720h"
	DefaultCountry     = "US"
	DefaultKeyAlg      = ECDSAP256

	DefaultSSHUser = "kismaticuser"
	DefaultSSHKey  = "kismaticuser.key"
	DefaultSSHPort = 22

	DefaultOS              = "debian-12"
	DefaultCNIProvider     = "calico"
	DefaultCalicoMode      = ModeOverlay
	DefaultCalicoLogLevel  = "info"
	DefaultWorkloadMTU     = 1500
	DefaultFelixInputMTU   = 1440
	DefaultIPAutodetect    = "first-found"
	DefaultDNSProvider     = "coredns"
	DefaultDNSReplicas     = 2
	DefaultProvider        = "qemu"
	DefaultQEMUAccel       = "auto"
	DefaultQEMUImage       = "debian-12"
	DefaultQEMUSSHBasePort = 2220
	DefaultQEMUDir         = ".cache/qemu"
	DefaultAWSSecrets      = "inline"
	// DefaultAWSLoadBalancerCreate creates the API's load balancer where the plan needs
	// one, with two or more masters.
	DefaultAWSLoadBalancerCreate = "auto"
	// DefaultAWSLoadBalancerScheme keeps the API off the internet unless the plan asks:
	// an internal load balancer has addresses in the VPC's subnets only.
	DefaultAWSLoadBalancerScheme = "internal"
	DefaultPacketAPIURL          = "https://api.equinix.com/metal/v1"
	DefaultVSpherePrefixLength   = 24
	DefaultAPIServerPort         = 6443
	ManagedLabelPrefix           = "kisgen.io/"
	KismaticLabelPrefix          = "kismatic/"
	DefaultStateDirName          = "generated"
	DefaultPlanFileName          = "kismatic-cluster.yaml"
	DefaultUserDataDirName       = "userdata"
	DefaultCertificateOrgUnit    = "kisgen"
)

// ignitionOS are the operating systems configured by Ignition rather than cloud-init.
var ignitionOS = map[string]bool{"flatcar": true, "fedora-coreos": true}

// SupportedOS lists the operating systems kisgen renders for.
var SupportedOS = []string{"debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rhel-9", "rocky-9", "almalinux-9", "flatcar", "fedora-coreos"}

// FormatFor returns the user-data format an operating system reads.
func FormatFor(os string) Format {
	if ignitionOS[os] {
		return FormatIgnition
	}
	return FormatCloudInit
}

// applyDefaults fills what can only be derived once every node is known.
func applyDefaults(p *Plan) {
	if p.LoadBalancer == "" && p.VirtualIP.IsValid() {
		p.LoadBalancer, p.LoadBalancerPort, p.LoadBalancerPlanned = p.VirtualIP.String(), DefaultAPIServerPort, true
	}
	if p.LoadBalancer == "" {
		if masters := p.NodesWith(RoleMaster); len(masters) > 0 {
			p.LoadBalancer = masters[0].InternalIP.String()
		}
		p.LoadBalancerPort = DefaultAPIServerPort
	}
	if p.Network.Proxy.Enabled() {
		p.Network.Proxy.NoProxy = noProxyList(p)
	}
}

// noProxyList is the user's no_proxy plus everything that must never go through a proxy:
// loopback, every node's name and addresses, the pod and service ranges, the load balancer
// and the in-cluster service names. Sorted and without duplicates, for stable output.
func noProxyList(p *Plan) string {
	set := map[string]bool{"localhost": true, "127.0.0.1": true, ".svc": true, ".cluster.local": true}
	for _, s := range strings.Split(p.Network.Proxy.NoProxy, ",") {
		if s = strings.TrimSpace(s); s != "" {
			set[s] = true
		}
	}
	for _, n := range p.Nodes {
		set[n.Host] = true
		if n.IP.IsValid() {
			set[n.IP.String()] = true
		}
		if n.InternalIP.IsValid() {
			set[n.InternalIP.String()] = true
		}
	}
	for _, pr := range []netip.Prefix{p.Network.PodCIDR, p.Network.ServiceCIDR} {
		if pr.IsValid() {
			set[pr.String()] = true
		}
	}
	if p.LoadBalancer != "" {
		set[p.LoadBalancer] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
