package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
)

// want is a finding as a test expects it. The hint is compared only when the case gives
// one: most cases prove the rule, the path and the position; some prove the hint.
type want struct {
	Severity report.Severity
	Path     string
	Line     int
	Column   int
	Message  string
	Hint     string
}

// findingsOf turns a report into wants, keeping hints only where the expectation has them.
func findingsOf(rep *report.Report, expect []want) []want {
	var out []want
	for i, f := range rep.Findings {
		w := want{f.Severity, f.Path, f.Line, f.Column, f.Message, ""}
		if i < len(expect) && expect[i].Hint != "" {
			w.Hint = f.Hint
		}
		out = append(out, w)
	}
	return out
}

func parseFile(t *testing.T, path string) (*Plan, *report.Report) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(filepath.Base(path), data, Options{})
}

// TestRules runs one fixture per rule under testdata/rules. Each fixture is the valid
// base plan (testdata/rules/valid.yaml) with one thing changed, so the findings listed
// are all the plan has: the rule fires, at the right path and position, and nothing else.
func TestRules(t *testing.T) {
	tests := []struct {
		name string
		want []want
	}{
		{"as-number-negative", []want{
			{report.Error, "add_ons.cni.options.calico.as_number", 21, 20, "AS number -5 is out of range 1–4294967295", ""},
		}},
		{"as-number-out-of-range", []want{
			{report.Error, "add_ons.cni.options.calico.as_number", 21, 20, "AS number 4294967296 is out of range 1–4294967295", ""},
		}},
		{"as-number-private-4-byte", nil},
		{"as-number-public", []want{
			{report.Warning, "add_ons.cni.options.calico.as_number", 21, 20, "AS number 13335 is a public AS number", ""},
		}},
		{"as-number-reserved", []want{
			{report.Error, "add_ons.cni.options.calico.as_number", 21, 20, "AS number 23456 is reserved", ""},
		}},
		{"autodetection-bad-interface-regex", []want{
			{report.Error, "add_ons.cni.options.calico.ip_autodetection_method", 21, 34, "unknown autodetection method \"interface=eth[\"", ""},
		}},
		{"autodetection-method-unknown", []want{
			{report.Error, "add_ons.cni.options.calico.ip_autodetection_method", 21, 34, "unknown autodetection method \"magic\"", ""},
		}},
		{"autodetection-method-variants", nil},
		{"aws-admin-cidr-invalid", []want{
			{report.Error, "provider.aws.admin_cidrs[1]", 19, 35, "\"everyone\" is not a CIDR range", ""},
		}},
		{"aws-admin-cidrs-missing", []want{
			{report.Error, "provider.aws.admin_cidrs", 20, 5, "the aws provider needs admin_cidrs: without it the nodes cannot be reached, and kisgen opens nothing to the internet unless the plan says so", ""},
		}},
		{"aws-load-balancer-always-needs-a-name", []want{
			{report.Warning, "master.nodes", 10, 10, "a single master is unsafe: use it only for small development clusters", ""},
			{report.Error, "provider.aws.load_balancer.create", 21, 29, "create: always makes a load balancer for the API, and clients need a name for it in master.load_balancer", ""},
		}},
		// kisgen's Network Load Balancer gets its addresses from AWS once it exists: the
		// certificates need a name.
		{"aws-load-balancer-is-an-address", []want{
			{report.Error, "master.load_balancer", 10, 18, "load balancer 10.0.0.20 is an IP address, but on AWS kisgen creates a Network Load Balancer whose addresses AWS assigns when it is created, one per availability zone: the certificates and kubeconfigs need the name clients will use",
				"name it by a DNS name you control, e.g. kubernetes.example.com:6443, and point that name at the load balancer's DNS name, which `kisgen provision aws` prints (a CNAME, or a Route 53 alias record); or set provider.aws.load_balancer.create: never and name a load balancer of yours"},
		}},
		// Unlike elsewhere (load-balancer-name-in-hosts-file-mode), an address is no way out
		// on AWS: the name must resolve through the VPC's DNS, which every VPC has.
		{"aws-load-balancer-name-in-hosts-file-mode", []want{
			{report.Warning, "master.load_balancer", 12, 18, "load balancer \"kubernetes.example.com\" resolves only through DNS: the hosts files cannot carry the Network Load Balancer's addresses, which AWS assigns per availability zone and may change",
				"create the DNS record `kisgen provision aws` prints in a zone the VPC's resolver answers (a public zone, or a Route 53 private hosted zone associated with the VPC); the hosts files go on resolving the nodes' names"},
		}},
		{"aws-load-balancer-name-is-fine", nil},
		{"aws-load-balancer-of-your-own", nil}, // create: never: the address is a balancer of yours
		{"aws-load-balancer-settings-unknown", []want{
			{report.Error, "provider.aws.load_balancer.create", 19, 29, "unknown load balancer setting \"yes\"", ""},
			{report.Error, "provider.aws.load_balancer.scheme", 19, 42, "unknown load balancer scheme \"public\"", ""},
		}},
		{"aws-subnet-ids-without-subnet-id-is-fine", nil},
		{"aws-ingress-cidr-invalid", []want{
			{report.Error, "provider.aws.ingress_cidrs[1]", 20, 32, "\"the-internet\" is not a CIDR range", ""},
		}},
		{"aws-s3-secrets-need-bucket", []want{
			{report.Error, "provider.aws.secrets_bucket", 19, 5, "secrets: s3 needs secrets_bucket", ""},
		}},
		{"aws-secrets-unknown", []want{
			{report.Error, "provider.aws.secrets", 19, 14, "unknown secrets mode \"vault\"", ""},
		}},
		{"aws-ssm-secrets-need-instance-profile", []want{
			{report.Error, "provider.aws.instance_profile", 19, 5, "secrets: ssm needs instance_profile", ""},
		}},
		{"ca-expires-before-certificates", []want{
			{report.Error, "cluster.certificates.ca_expiry", 7, 16, "the CA would expire (8760h0m0s) before the certificates it signs (17520h0m0s)", ""},
		}},
		{"calico-log-level-unknown", []want{
			{report.Error, "add_ons.cni.options.calico.log_level", 21, 20, "unknown log level \"trace\"", ""},
		}},
		{"calico-manifest-not-pinned", []want{
			{report.Error, "versions.calico", 18, 11, "the Calico manifest v3.31.0 (raw.githubusercontent.com/projectcalico/calico/v3.31.0/manifests/calico.yaml) would be applied as cluster-admin without a pinned sha256",
				"run `kisgen mirror build` (it sums every file it writes) and set mirror.checksums to its SHA256SUMS (kisgen knows the sum of Calico v3.32.1's manifest only: versions.calico v3.31.0 needs mirror.checksums)"},
		}},
		{"calico-mode-unknown", []want{
			{report.Error, "add_ons.cni.options.calico.mode", 21, 15, "unknown Calico mode \"vxlan\"", ""},
		}},
		{"cloud-provider-is-ignored", []want{
			{report.Warning, "cluster.cloud_provider", 6, 5, "cloud_provider is ignored: in-tree cloud providers were removed from Kubernetes", ""},
		}},
		{"cluster-name-missing", []want{
			{report.Error, "cluster.name", 4, 3, "cluster.name is required", ""},
		}},
		{"cluster-name-not-dns-label", []want{
			{report.Error, "cluster.name", 4, 9, "cluster name \"Test_Cluster\" is not a DNS label", ""},
		}},
		{"cni-provider-unsupported", []want{
			{report.Error, "add_ons.cni.provider", 19, 15, "CNI provider \"flannel\" is not supported", ""},
		}},
		{"country-lowercase-is-accepted", nil},
		{"country-not-iso-3166", []want{
			{report.Error, "cluster.certificates.location.country", 7, 16, "\"USA\" is not an ISO 3166 country code", ""},
		}},
		{"disconnected-needs-mirror", []want{
			{report.Error, "cluster.disconnected_installation", 5, 30, "a disconnected installation needs a mirror or baked images", ""},
		}},
		{"disconnected-with-baked-images-is-fine", nil},
		{"duplicate-key", []want{
			{report.Error, "cluster.name", 5, 3, "duplicate key \"name\" (first at line 4, column 3)", "keep one of them: YAML keeps only the last, which hides the first"},
		}},
		// The decoder refuses a mapping with a duplicate key whole: the sections beside it
		// must still be read, not reported missing.
		{"duplicate-top-level-key", []want{
			{report.Error, "cluster", 17, 1, "duplicate key \"cluster\" (first at line 3, column 1)", "keep one of them: YAML keeps only the last, which hides the first"},
		}},
		{"etcd-override-protected-flag", []want{
			{report.Error, "cluster.etcd.option_overrides.data-dir", 8, 7, "etcd flag --data-dir cannot be overridden", ""},
		}},
		{"etcd-version-invalid", []want{
			{report.Error, "versions.etcd", 18, 9, "etcd version \"3.7\" is not a release version", ""},
		}},
		{"even-etcd-count", []want{
			{report.Warning, "etcd.nodes", 7, 10, "4 etcd nodes tolerate no more failures than 3: etcd needs a majority, so use an odd count", "use 3 or 5 etcd nodes"},
		}},
		{"expected-count-mismatch", []want{
			{report.Error, "worker.expected_count", 13, 19, "expected_count is 2 but 1 node is listed", "set expected_count: 1, or list the missing nodes"},
		}},
		{"expected-count-negative", []want{
			{report.Error, "ingress.expected_count", 18, 19, "expected_count cannot be negative", ""},
		}},
		{"expiry-in-days-is-accepted", nil},
		{"expiry-negative", []want{
			{report.Error, "cluster.certificates.expiry", 6, 13, "duration -5h must be positive", ""},
		}},
		{"expiry-not-a-duration", []want{
			{report.Error, "cluster.certificates.expiry", 6, 13, "\"two years\" is not a duration", ""},
		}},
		{"expiry-shorter-than-a-day", []want{
			{report.Warning, "cluster.certificates.expiry", 6, 13, "certificates valid for only 12h0m0s will expire before most clusters are replaced", ""},
		}},
		{"extra-san-invalid", []want{
			{report.Error, "cluster.certificates.apiserver_cert_extra_sans", 6, 32, "extra SAN #2 \"bad name\" is neither a DNS name nor an IP address", ""},
		}},
		{"felix-mtu-leaves-no-room-for-ipip", []want{
			{report.Warning, "add_ons.cni.options.calico.felix_input_mtu", 21, 26, "the IP-in-IP tunnel MTU must leave 20 bytes for the outer header, or large packets are dropped", "use at most 1480"},
		}},
		{"felix-mtu-out-of-range", []want{
			{report.Error, "add_ons.cni.options.calico.felix_input_mtu", 21, 26, "MTU 10000 is out of range 576–9000", ""},
		}},
		{"format-disagrees-with-os", []want{
			{report.Error, "worker.format", 14, 11, "flatcar reads ignition user-data, not cloud-init", ""},
		}},
		{"host-fqdn-warning", []want{
			{report.Warning, "worker.nodes[0].host", 15, 11, "host \"worker1.example.com\" is a fully qualified name; it becomes the node's hostname and Kubernetes node name as written", ""},
		}},
		{"host-in-two-groups-merges", nil},
		{"host-in-two-groups-with-different-addresses", []want{
			{report.Error, "worker.nodes[1]", 17, 5, "host \"master1\" is also master.nodes[0] with different addresses (10.0.0.99 / 10.0.0.99 here, 10.0.0.21 / 10.0.0.21 there)", ""},
		}},
		{"host-in-two-groups-with-different-kubelet-overrides", []want{
			{report.Error, "worker.nodes[1].kubelet.option_overrides", 20, 25, "host \"master1\" has different kubelet overrides than in master.nodes[0]", ""},
		}},
		{"host-in-two-groups-with-different-macs", []want{
			{report.Error, "worker.nodes[1].mac", 19, 10, "host \"master1\" has MAC 52:54:00:00:00:02 here and 52:54:00:00:00:01 in master.nodes[0]", ""},
		}},
		{"host-listed-twice-in-group", []want{
			{report.Error, "worker.nodes[1].host", 17, 11, "host \"worker1\" is listed twice in the worker group (also worker.nodes[0])", ""},
		}},
		{"host-missing", []want{
			{report.Error, "worker.nodes[0].host", 15, 5, "host is required", ""},
		}},
		{"host-not-rfc1123", []want{
			{report.Error, "worker.nodes[0].host", 15, 11, "host \"worker_1\" is not a valid host name (RFC 1123)", ""},
		}},
		{"host-uppercase", []want{
			{report.Error, "worker.nodes[0].host", 15, 11, "host \"Worker1\" has uppercase letters", ""},
		}},
		{"image-archive-not-pinned", []want{
			{report.Error, "mirror.image_archives[0]", 19, 20, "image archive images/coredns-v1.15.0.tar would be imported into containerd without a pinned sha256",
				"run `kisgen mirror build` (it sums every file it writes) and set mirror.checksums to its SHA256SUMS"},
		}},
		{"ignition-os-with-matching-format-is-fine", nil},
		{"internal-ip-duplicate", []want{
			{report.Error, "worker.nodes[0].internal_ip", 17, 18, "internal ip 10.0.0.11 is also used by etcd1 (etcd.nodes[0].internal_ip)", ""},
		}},
		{"internal-ip-inside-service-range", []want{
			{report.Error, "worker.nodes[0].internal_ip", 17, 18, "internal ip 172.17.1.1 is inside the service range 172.17.0.0/16", ""},
		}},
		{"internal-ip-spellings-disagree", []want{
			{report.Error, "worker.nodes[0].internal_ip", 18, 18, "internalip (192.168.0.31) and internal_ip (192.168.0.32) disagree", ""},
		}},
		{"internalip-legacy-spelling-in-kisgen-schema", nil},
		{"ip-duplicate", []want{
			{report.Error, "worker.nodes[0].ip", 16, 9, "ip 10.0.0.11 is also used by etcd1 (etcd.nodes[0].ip)", ""},
		}},
		{"ip-inside-pod-range", []want{
			{report.Error, "worker.nodes[0].ip", 16, 9, "ip 172.16.0.31 is inside the pod range 172.16.0.0/16", ""},
		}},
		{"ip-ipv6", []want{
			{report.Error, "worker.nodes[0].ip", 16, 9, "fd00::31 is not an IPv4 address", ""},
		}},
		{"ip-loopback", []want{
			{report.Error, "worker.nodes[0].ip", 16, 9, "ip 127.0.0.1 cannot be a node address", ""},
		}},
		{"ip-missing", []want{
			{report.Error, "worker.nodes[0].ip", 15, 5, "ip is required", ""},
		}},
		{"ip-not-an-address", []want{
			{report.Error, "worker.nodes[0].ip", 16, 9, "\"10.0.0.300\" is not an IP address", ""},
		}},
		{"key-algorithm-unknown", []want{
			{report.Error, "cluster.certificates.key_algorithm", 6, 20, "unknown key algorithm \"dsa\"", ""},
		}},
		{"kubernetes-version-newer-than-tested", []want{
			{report.Warning, "cluster.version", 5, 12, "Kubernetes v1.40.0 is newer than kisgen has been tested with", ""},
		}},
		{"kubernetes-version-not-a-release", []want{
			{report.Error, "cluster.version", 5, 12, "Kubernetes version \"latest\" is not a release version", ""},
		}},
		{"kubernetes-version-too-old", []want{
			{report.Error, "cluster.version", 5, 12, "Kubernetes v1.10.5 is older than kisgen supports: its flags and configuration differ", ""},
		}},
		{"kubernetes-version-without-v", []want{
			{report.Error, "cluster.version", 5, 12, "Kubernetes version \"1.37.2\" is not a release version", "write \"v1.37.2\": release versions start with v"},
		}},
		{"label-allowed-kubernetes-prefixes", nil},
		{"label-key-invalid", []want{
			{report.Error, "worker.nodes[0].labels.-bad-", 18, 7, "label key \"-bad-\" is not a valid name (at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)", ""},
		}},
		{"label-key-prefix-invalid", []want{
			{report.Error, "worker.nodes[0].labels.Example.COM/gpu", 18, 7, "label key \"Example.COM/gpu\" has an invalid prefix (it must be a lowercase DNS subdomain)", ""},
		}},
		{"label-kismatic-prefix-reserved", []want{
			{report.Error, "worker.nodes[0].labels.kismatic/role", 18, 7, "label prefix \"kismatic/\" is reserved for kisgen", ""},
		}},
		{"label-kubernetes-prefix-refused", []want{
			{report.Error, "worker.nodes[0].labels.kubernetes.io/team", 18, 7, "the kubelet may not set \"kubernetes.io/team\" on its own node (NodeRestriction): the node would fail to register", ""},
		}},
		{"label-node-role-refused", []want{
			{report.Error, "worker.nodes[0].labels.node-role.kubernetes.io/gpu", 18, 7, "the kubelet may not set node-role labels on its own node (NodeRestriction)", ""},
		}},
		{"label-prefix-reserved-for-kisgen", []want{
			{report.Error, "worker.nodes[0].labels.kisgen.io/role", 18, 7, "label prefix \"kisgen.io/\" is reserved for kisgen", ""},
		}},
		{"label-value-invalid", []want{
			{report.Error, "worker.nodes[0].labels.example.com/gpu", 18, 7, "label value \"not valid!\" is invalid", ""},
		}},
		{"load-balancer-bad-port", []want{
			{report.Error, "master.load_balancer", 10, 18, "load balancer \"k8s.example.com:99999\": port \"99999\" is not a number from 1 to 65535", ""},
		}},
		{"load-balancer-inside-service-range", []want{
			{report.Error, "master.load_balancer", 10, 18, "load balancer 172.17.0.5 is inside the service range 172.17.0.0/16", ""},
		}},
		{"load-balancer-is-a-master", []want{
			{report.Warning, "master.load_balancer", 10, 18, "the load balancer is master master1 itself: losing it cuts every client off", ""},
		}},
		{"load-balancer-is-a-url", []want{
			{report.Error, "master.load_balancer", 10, 18, "load balancer \"https://k8s.example.com:6443\" is a URL, not host:port", "write host:port without \"https://\", e.g. k8s.example.com:6443"},
		}},
		{"load-balancer-not-a-host", []want{
			{report.Error, "master.load_balancer", 10, 18, "load balancer host \"bad_host!\" is neither a DNS name nor an IP address", ""},
		}},
		{"load-balancer-without-port-uses-6443", nil},
		// In hosts-file mode nothing resolves a balancer's name, and two masters leave
		// kisgen no address to write for it.
		{"load-balancer-name-in-hosts-file-mode", []want{
			{report.Error, "master.load_balancer", 12, 18, "load balancer \"kubernetes.example.com\" is a DNS name that only the hosts files could resolve here, and kisgen cannot know its address: kubelets would not reach the API servers", "give the load balancer's IP address (e.g. 10.0.0.20:6443; list the name in cluster.certificates.apiserver_cert_extra_sans for clients that use it), or set cluster.networking.update_hosts_files: false where DNS resolves the nodes and this name"},
		}},
		{"load-balancer-name-with-dns-is-fine", nil},
		{"mac-duplicate", []want{
			{report.Error, "worker.nodes[0].mac", 17, 10, "MAC 52:54:00:00:00:01 is also used by master1 (master.nodes[0].mac)", ""},
		}},
		{"mac-invalid", []want{
			{report.Error, "worker.nodes[0].mac", 17, 10, "\"52:54:00:zz:00:01\" is not a MAC address", ""},
		}},
		{"machine-memory-below-guide-minimum", []want{
			{report.Warning, "master.machine.memory_mb", 9, 24, "1024 MiB is below the guide's minimum for master nodes", ""},
		}},
		{"machine-size-negative", []want{
			{report.Error, "worker.machine", 13, 12, "machine sizes cannot be negative", ""},
		}},
		{"merge-key-not-a-mapping", []want{
			{report.Error, "cluster", 5, 8, "a merge key (<<) must refer to a mapping", ""},
			{report.Error, "cluster", 5, 11, "a merge key (<<) must refer to a mapping", ""},
		}},
		{"mirror-image-archive-path-escapes", []want{
			{report.Error, "mirror.image_archives[1]", 19, 35, "\"../etc/passwd\" is not a relative path under the mirror", ""},
			{report.Error, "mirror.image_archives[2]", 19, 50, "\"/abs.tar\" is not a relative path under the mirror", ""},
		}},
		{"mirror-image-archives-need-url", []want{
			{report.Error, "mirror.image_archives", 18, 19, "image archives need a mirror URL to be fetched from", ""},
		}},
		{"mirror-over-http-without-checksums", []want{
			{report.Warning, "mirror.checksums", 18, 3, "downloads over plain http are checked only against sums fetched from the same mirror", ""},
		}},
		{"mirror-registry-invalid", []want{
			{report.Error, "mirror.registry", 18, 13, "registry \"http://registry.example.com\" is not host[:port]", ""},
		}},
		{"mirror-url-invalid", []want{
			{report.Error, "mirror.url", 18, 8, "mirror \"ftp://mirror.example.com\" is not an http(s) URL", ""},
		}},
		{"more-than-seven-etcd-nodes", []want{
			{report.Warning, "etcd.nodes", 7, 10, "9 etcd nodes slow every write; more than 7 adds no useful availability", ""},
		}},
		{"network-policy-without-calico", []want{
			{report.Warning, "add_ons.cni.options.calico.network_policy", 22, 25, "network policy needs Calico, which this plan does not install", ""},
		}},
		{"node-kubelet-override-protected", []want{
			{report.Error, "worker.nodes[0].kubelet.option_overrides.node-ip", 19, 9, "kubelet flag --node-ip cannot be overridden", ""},
		}},
		{"number-out-of-range", []want{
			{report.Error, "cluster.ssh.ssh_port", 6, 15, "number 9999999999 is out of range", ""},
		}},
		{"optional-group-without-count-is-fine", nil},
		{"override-flag-with-dashes", []want{
			{report.Error, "cluster.kube_apiserver.option_overrides.--v", 7, 7, "flag \"--v\" starts with dashes", "write the flag without dashes: \"v\""},
		}},
		{"override-not-a-flag-name", []want{
			{report.Error, "cluster.kube_scheduler.option_overrides.Bad_Flag", 7, 7, "\"Bad_Flag\" is not a flag name", ""},
		}},
		{"override-protected-flag", []want{
			{report.Error, "cluster.kube_apiserver.option_overrides.service-cluster-ip-range", 7, 7, "kube-apiserver flag --service-cluster-ip-range cannot be overridden", ""},
		}},
		{"packet-ignition-group-needs-image", []want{
			{report.Warning, "worker.machine.image", 13, 3, "no operating system slug for the worker group", ""},
		}},
		{"pause-version-invalid", []want{
			{report.Error, "versions.pause", 18, 10, "pause version \"latest\" is not an image tag", ""},
		}},
		{"pod-and-service-ranges-overlap", []want{
			{report.Error, "cluster.networking.service_cidr_block", 6, 5, "the service range 172.17.0.0/16 overlaps the pod range 172.16.0.0/12", ""},
		}},
		{"pod-range-host-bits-set", []want{
			{report.Warning, "cluster.networking.pod_cidr_block", 6, 21, "172.16.1.0/16 has host bits set; the range is 172.16.0.0/16", "write 172.16.0.0/16"},
		}},
		{"pod-range-ipv6", []want{
			{report.Error, "cluster.networking.pod_cidr_block", 6, 21, "fd00::/64 is not an IPv4 range", ""},
		}},
		{"pod-range-not-cidr", []want{
			{report.Error, "cluster.networking.pod_cidr_block", 6, 21, "\"172.16.0.0\" is not a CIDR range", ""},
		}},
		{"pod-range-reserved", []want{
			{report.Error, "cluster.networking.pod_cidr_block", 6, 21, "the pod range 127.0.0.0/16 overlaps the reserved range 127.0.0.0/8", ""},
		}},
		{"pod-range-too-small-for-nodes", []want{
			{report.Error, "cluster.networking.pod_cidr_block", 6, 21, "the pod range 172.16.0.0/26 has 64 addresses, but 3 nodes take blocks of 64 (192 addresses)", "use a /24 or larger range"},
		}},
		{"provider-unknown-lists", []want{
			{report.Error, "provider.name", 18, 9, "unknown provider \"openstack\"", ""},
		}},
		{"provider-unknown-suggests", []want{
			{report.Error, "provider.name", 18, 9, "unknown provider \"qemo\"", "did you mean \"qemu\"?"},
		}},
		{"proxy-not-a-url", []want{
			{report.Error, "cluster.networking.http_proxy", 6, 17, "proxy \"proxy.example.com:3128\" is not an http(s) URL", ""},
		}},
		{"pxe-needs-url-and-macs", []want{
			{report.Error, "etcd.nodes[0].mac", 7, 11, "PXE boot needs every node's MAC address", ""},
			{report.Error, "etcd.nodes[1].mac", 7, 41, "PXE boot needs every node's MAC address", ""},
			{report.Error, "etcd.nodes[2].mac", 7, 71, "PXE boot needs every node's MAC address", ""},
			{report.Error, "master.nodes[0].mac", 11, 11, "PXE boot needs every node's MAC address", ""},
			{report.Error, "master.nodes[1].mac", 11, 43, "PXE boot needs every node's MAC address", ""},
			{report.Error, "worker.nodes[0].mac", 15, 5, "PXE boot needs every node's MAC address", ""},
			{report.Error, "provider.pxe.http_url", 18, 3, "PXE boot needs http_url", ""},
		}},
		{"pxe-url-must-be-http", []want{
			{report.Error, "provider.pxe.http_url", 19, 15, "\"https://10.0.0.1:8080\" is not an http URL", ""},
		}},
		{"vsphere-network-invalid", []want{
			{report.Error, "provider.vsphere.prefix_length", 19, 20, "prefix length 33 is out of range 1–32", ""},
			{report.Error, "provider.vsphere.gateway", 20, 14, "\"10.0.0.1/24\" is not an IPv4 address", ""},
			{report.Error, "provider.vsphere.dns[1]", 21, 21, "\"dns.example.com\" is not an IP address", ""},
		}},
		{"qemu-accel-unknown", []want{
			{report.Error, "provider.qemu.accel", 19, 12, "unknown accelerator \"hvf\"", ""},
		}},
		{"qemu-ssh-base-port-privileged", []want{
			{report.Error, "provider.qemu.ssh_base_port", 19, 20, "ssh_base_port 22 is a privileged port", ""},
		}},
		{"renew-before-not-shorter-than-expiry", []want{
			{report.Error, "cluster.certificates.renew_before", 6, 5, "a renewal window of 720h0m0s would reissue every certificate on every run (expiry 720h0m0s)", ""},
		}},
		{"routed-mode-needs-no-ipip-room", nil},
		{"service-range-too-large", []want{
			{report.Error, "cluster.networking.service_cidr_block", 7, 25, "the service range 172.0.0.0/11 is larger than kube-apiserver accepts (/12)", ""},
			{report.Warning, "cluster.networking.service_cidr_block", 7, 25, "172.16.0.0/11 has host bits set; the range is 172.0.0.0/11", ""},
		}},
		{"service-range-too-small", []want{
			{report.Error, "cluster.networking.service_cidr_block", 6, 25, "the service range 172.17.0.0/29 is too small: the DNS service takes its 10th address", ""},
		}},
		{"single-etcd-node-is-unsafe", []want{
			{report.Warning, "etcd.nodes", 7, 10, "a single etcd node is unsafe: use it only for small development clusters", ""},
		}},
		{"single-master-is-unsafe", []want{
			{report.Warning, "master.nodes", 10, 10, "a single master is unsafe: use it only for small development clusters", ""},
		}},
		{"ssh-port-out-of-range", []want{
			{report.Error, "cluster.ssh.ssh_port", 6, 15, "ssh port 70000 is out of range", ""},
		}},
		{"ssh-user-invalid", []want{
			{report.Error, "cluster.ssh.user", 6, 11, "\"Admin User\" is not a valid user name", ""},
		}},
		{"ssh-user-root-refused", []want{
			{report.Error, "cluster.ssh.user", 6, 11, "SSH as root is refused by kisgen's sshd configuration", ""},
		}},
		{"taint-effect-misspelt", []want{
			{report.Error, "worker.nodes[0].taints[0].effect", 18, 38, "taint effect \"NoSchedul\" is invalid", "did you mean \"NoSchedule\"?"},
		}},
		{"taint-effect-unknown", []want{
			{report.Error, "worker.nodes[0].taints[0].effect", 18, 38, "taint effect \"Never\" is invalid", ""},
		}},
		{"taint-key-invalid", []want{
			{report.Error, "worker.nodes[0].taints[0].key", 18, 13, "taint key \"bad key\" is not a valid name (at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)", ""},
		}},
		{"taint-key-missing", []want{
			{report.Error, "worker.nodes[0].taints[0].key", 18, 7, "taint key is required", ""},
		}},
		{"taint-listed-twice", []want{
			{report.Error, "worker.nodes[0].taints[1]", 19, 7, "taint example.com/gpu:NoSchedule is listed twice", ""},
		}},
		{"taint-value-invalid", []want{
			{report.Error, "worker.nodes[0].taints[0].value", 18, 37, "taint value \"a b\" is invalid", ""},
		}},
		{"virtual-ip-alone-is-the-load-balancer", nil},
		{"virtual-ip-with-a-name-in-hosts-file-mode", nil},
		{"virtual-ip-other-than-load-balancer", []want{
			{report.Error, "master.load_balancer", 12, 18, "load balancer 10.0.0.30 is not the virtual IP 10.0.0.20, where kisgen serves the API", "set it to 10.0.0.20:6443, or to a DNS name for 10.0.0.20, or leave it out"},
		}},
		{"virtual-ip-is-a-node", []want{
			{report.Warning, "master.load_balancer", 11, 3, "the load balancer is master master1 itself: losing it cuts every client off", "point it at a virtual IP or DNS name in front of every master"},
			{report.Error, "master.virtual_ip", 12, 15, "virtual IP 10.0.0.21 is node master1's address", "use a free address of the node network that no node has"},
		}},
		{"virtual-ip-not-an-address", []want{
			{report.Error, "master.virtual_ip", 12, 15, "virtual IP \"10.0.0\" is not an IPv4 address", "give a free IPv4 address on the masters' network, e.g. 10.10.0.20"},
		}},
		{"virtual-ip-on-aws", []want{
			{report.Error, "master.virtual_ip", 12, 15, "a virtual IP cannot move between instances on AWS (the VPC does not follow VRRP's announcements)", "leave virtual_ip out and put the masters behind a Network Load Balancer, named in master.load_balancer"},
		}},
		{"two-masters-need-load-balancer", []want{
			{report.Error, "master.load_balancer", 9, 3, "2 masters need a load-balanced address", ""},
		}},
		{"unknown-format", []want{
			{report.Error, "worker.format", 13, 11, "unknown user-data format \"kickstart\"", ""},
		}},
		{"unknown-key-lists-known-keys", []want{
			{report.Error, "cluster.flavour", 5, 3, "unknown key \"flavour\"", "known keys here: certificates, cloud_provider, disable_package_installation, disconnected_installation, etcd, kube_apiserver, kube_controller_manager, kube_proxy, kube_scheduler, kubelet, name, networking, ssh, version"},
		}},
		{"unknown-key-suggests-spelling", []want{
			{report.Error, "cluster.nmae", 4, 3, "unknown key \"nmae\"", "did you mean \"name\"?"},
		}},
		{"unsupported-os", []want{
			{report.Error, "worker.os", 13, 7, "unsupported operating system \"windows-2022\"", ""},
		}},
		{"valid", nil},
		{"worker-group-empty", []want{
			{report.Error, "worker.nodes", 13, 3, "the worker group needs at least one node", ""},
		}},
		{"workload-mtu-out-of-range", []want{
			{report.Error, "add_ons.cni.options.calico.workload_mtu", 21, 23, "MTU 100 is out of range 576–9000", ""},
		}},
		{"wrong-type-list-expected", []want{
			{report.Error, "worker.nodes", 14, 10, "expected a list, got a mapping", ""},
		}},
		{"wrong-type-number-expected", []want{
			{report.Error, "worker.expected_count", 13, 19, "expected a whole number, got \"one\"", ""},
		}},
		{"wrong-type-section-not-mapping", []want{
			{report.Error, "versions", 17, 11, "expected a mapping (key: value lines), got a list", ""},
		}},
		{"wrong-type-single-value-expected", []want{
			{report.Error, "cluster.name", 4, 9, "expected a single value, got a list", ""},
		}},
		{"wrong-type-yes-is-not-a-boolean", []want{
			{report.Error, "cluster.networking.update_hosts_files", 6, 25, "expected true or false, got \"yes\"", "write true: YAML 1.2 reads \"yes\" as text, not as a boolean"},
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			p, rep := parseFile(t, filepath.Join("testdata", "rules", tt.name+".yaml"))
			if diff := cmp.Diff(tt.want, findingsOf(rep, tt.want)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if p == nil && rep.Count(report.Error) == 0 {
				t.Fatal("no plan, yet no error")
			}
			for _, f := range rep.Findings {
				if f.File != tt.name+".yaml" {
					t.Errorf("finding %q names file %q", f.Message, f.File)
				}
				if f.Hint == "" {
					t.Errorf("finding %q says nothing about what to do", f.Message)
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.yaml"))
	for _, f := range files {
		if name := strings.TrimSuffix(filepath.Base(f), ".yaml"); !seen[name] {
			t.Errorf("fixture %s has no case in TestRules", f)
		}
	}
}
