package plan

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// TestKismaticPlans loads plans in Kismatic's schema: as the v1.12 release wrote them,
// with the keys older releases and the guide used, and with mistakes specific to them.
func TestKismaticPlans(t *testing.T) {
	tests := []struct {
		name  string
		want  []want
		check func(t *testing.T, p *Plan)
	}{
		{"release-v1.12", []want{
			{report.Warning, "cluster.version", 3, 12, "Kubernetes v1.10.5 is older than kisgen supports: kisgen installs its default, " + DefaultKubernetesVersion, "write `version: " + DefaultKubernetesVersion + "` (or a later release)"},
			{report.Warning, "docker", 35, 3, "the docker section is ignored: kisgen runs containerd, which Kubernetes talks to directly", ""},
			{report.Warning, "add_ons.dns.provider", 71, 15, "kube-dns was retired from Kubernetes; kisgen installs CoreDNS instead", "write `provider: coredns`"},
			{report.Warning, "add_ons.heapster", 75, 5, "Heapster was retired from Kubernetes and is not installed", ""},
			{report.Warning, "add_ons.package_manager", 90, 5, "the package_manager add-on (Helm 2 / Tiller) is not installed: Tiller was removed in Helm 3", ""},
			{report.Warning, "add_ons.rescheduler", 96, 5, "the rescheduler was removed from Kubernetes and is not installed", ""},
		}, func(t *testing.T, p *Plan) {
			got := struct {
				Source, LB, DNS  string
				Kubernetes       string
				Port             int
				Service          string
				Internal         []string
				Labels           map[string]string
				Taints           []Taint
				Dashboard, Pkgs  bool
				ExpectedEtcd     int
				UpdateHostsFiles bool
			}{p.SourceVersion, p.LoadBalancer, p.AddOns.DNSProvider, p.Versions.Kubernetes, p.LoadBalancerPort, p.Network.ServiceCIDR.String(),
				nil, p.Node("worker01").Labels, p.Node("worker01").Taints, p.AddOns.Dashboard, p.PackageInstallation,
				p.Groups[RoleEtcd].ExpectedCount, p.Network.UpdateHostsFiles}
			for _, n := range p.Nodes {
				got.Internal = append(got.Internal, n.InternalIP.String())
			}
			want := got
			want.Source, want.LB, want.DNS, want.Kubernetes, want.Port = KismaticVersion, "kubernetes.example.com", "coredns", DefaultKubernetesVersion, 6443
			want.Service = "172.20.0.0/16"
			want.Internal = []string{"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.20", "10.0.0.21", "10.0.0.30"}
			want.Labels = map[string]string{"example.com/disk": "ssd"}
			want.Taints = []Taint{{Key: "example.com/dedicated", Value: "batch", Effect: "NoSchedule"}}
			want.Dashboard, want.Pkgs, want.ExpectedEtcd, want.UpdateHostsFiles = true, true, 3, false
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("model (-want +got):\n%s", diff)
			}
		}},
		{"older-keys", []want{
			{report.Warning, "cluster.admin_password", 5, 19, "admin_password is ignored: password (ABAC/basic) authentication was removed from Kubernetes", ""},
			{report.Warning, "cluster.allow_package_installation", 6, 31, "allow_package_installation is deprecated", "replace it with `disable_package_installation: true`"},
			{report.Warning, "cluster.networking.type", 8, 11, "cluster.networking.type is deprecated", "move it to add_ons.cni.options.calico.mode"},
			{report.Warning, "docker_registry.address", 17, 12, "docker_registry.address and port are deprecated", "write `server: registry.example.com:5000`"},
			{report.Warning, "add_ons.dashbard", 21, 5, "add_ons.dashbard is a deprecated misspelling of add_ons.dashboard", ""},
			{report.Warning, "etcd.nodes", 25, 3, "a single etcd node is unsafe: use it only for small development clusters", ""},
			{report.Warning, "master.load_balanced_fqdn", 30, 23, "load_balanced_fqdn and load_balanced_short_name are deprecated", "write `load_balancer: kubernetes.example.com:6443`"},
			{report.Warning, "master.load_balanced_short_name", 31, 29, "load_balanced_short_name is deprecated: Kismatic put it into the API server certificate, as an extra SAN does", ""},
			{report.Warning, "master.nodes", 33, 3, "a single master is unsafe: use it only for small development clusters", ""},
		}, func(t *testing.T, p *Plan) {
			type model struct {
				Mode                CalicoMode
				PackageInstallation bool
				Dashboard           bool
				Registry            string
				LB                  string
				SANs                []string
				Internal            []string
			}
			got := model{p.Network.Mode, p.PackageInstallation, p.AddOns.Dashboard, p.Mirror.Registry, p.APIServerURL(), p.Certificates.ExtraSANs, nil}
			for _, n := range p.Nodes {
				got.Internal = append(got.Internal, n.InternalIP.String())
			}
			want := model{ModeRouted, false, false, "registry.example.com:5000", "https://kubernetes.example.com:6443",
				[]string{"kubernetes"}, []string{"10.0.0.10", "10.0.0.11", "10.0.0.12"}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("model (-want +got):\n%s", diff)
			}
		}},
		// The untouched template: warnings where kisgen behaves differently, no error.
		{"template-v1.12", []want{
			{report.Warning, "cluster.name", 5, 9, `cluster name "my_cluster_name" is not a DNS label: kisgen names the cluster my-cluster-name in certificates, kubeconfigs and machine names`, ""},
			{report.Warning, "cluster.version", 6, 12, "Kubernetes v1.10.5 is older than kisgen supports: kisgen installs its default, " + DefaultKubernetesVersion, ""},
			{report.Warning, "docker", 38, 3, "the docker section is ignored: kisgen runs containerd, which Kubernetes talks to directly", ""},
			{report.Warning, "add_ons.dns.provider", 80, 15, "kube-dns was retired from Kubernetes; kisgen installs CoreDNS instead", ""},
			{report.Warning, "add_ons.heapster", 84, 5, "Heapster was retired from Kubernetes and is not installed", ""},
			{report.Warning, "add_ons.package_manager", 100, 5, "the package_manager add-on (Helm 2 / Tiller) is not installed: Tiller was removed in Helm 3", ""},
			{report.Warning, "add_ons.rescheduler", 106, 5, "the rescheduler was removed from Kubernetes and is not installed", ""},
			{report.Warning, "master.load_balancer", 120, 18, "the load balancer is master master01 itself: losing it cuts every client off", ""},
		}, func(t *testing.T, p *Plan) {
			if p.Name != "my-cluster-name" || p.Versions.Kubernetes != DefaultKubernetesVersion || len(p.Nodes) != 10 || !p.AddOns.Dashboard {
				t.Errorf("model: name %s, version %s, %d nodes, dashboard %v", p.Name, p.Versions.Kubernetes, len(p.Nodes), p.AddOns.Dashboard)
			}
		}},
		{"complete-v1.12", []want{
			{report.Warning, "cluster.name", 6, 9, `cluster name "my_cluster_name" is not a DNS label: kisgen names the cluster my-cluster-name in certificates, kubeconfigs and machine names`, "write `name: my-cluster-name`"},
			{report.Warning, "cluster.version", 7, 12, "Kubernetes v1.10.5 is older than kisgen supports: kisgen installs its default, " + DefaultKubernetesVersion, ""},
			{report.Warning, "cluster.admin_password", 9, 19, "admin_password is ignored: password (ABAC/basic) authentication was removed from Kubernetes", ""},
			{report.Warning, "cluster.allow_package_installation", 12, 31, "allow_package_installation is deprecated", "replace it with `disable_package_installation: false`"},
			{report.Warning, "cluster.networking.type", 16, 11, "cluster.networking.type is deprecated; add_ons.cni.options.calico.mode says the same", ""},
			{report.Warning, "docker", 45, 3, "the docker section is ignored: kisgen runs containerd, which Kubernetes talks to directly", ""},
			{report.Warning, "docker_registry.address", 68, 12, "docker_registry.address and port are deprecated and ignored: server is set", ""},
			{report.Warning, "additional_files", 74, 1, "additional_files are not copied: kisgen never connects to nodes to install them", ""},
			{report.Warning, "add_ons.dns.provider", 95, 15, "kube-dns was retired from Kubernetes; kisgen installs CoreDNS instead", ""},
			{report.Warning, "add_ons.heapster", 99, 5, "Heapster was retired from Kubernetes and is not installed", ""},
			{report.Warning, "add_ons.dashboard.options", 115, 7, "dashboard options are ignored: the dashboard is installed with its own defaults, a ClusterIP service", ""},
			{report.Warning, "add_ons.package_manager", 118, 5, "the package_manager add-on (Helm 2 / Tiller) is not installed: Tiller was removed in Helm 3", ""},
			{report.Warning, "add_ons.rescheduler", 124, 5, "the rescheduler was removed from Kubernetes and is not installed", ""},
			{report.Warning, "features", 127, 3, "features.package_manager is deprecated and ignored", ""},
			{report.Warning, "master.load_balanced_fqdn", 151, 23, "load_balanced_fqdn and load_balanced_short_name are deprecated and ignored: load_balancer is set", ""},
			{report.Warning, "nfs", 226, 3, "nfs volumes are not set up by kisgen", ""},
		}, func(t *testing.T, p *Plan) {
			type model struct {
				Name, Kubernetes, LB, DNS, Registry string
				SANs                                []string
				Packages, Dashboard, Metrics        bool
				Nodes                               int
				MaxPods                             string
			}
			got := model{p.Name, p.Versions.Kubernetes, p.APIServerURL(), p.AddOns.DNSProvider, p.Mirror.Registry,
				p.Certificates.ExtraSANs, p.PackageInstallation, p.AddOns.Dashboard, p.AddOns.MetricsServer,
				len(p.Nodes), p.Node("worker02").KubeletOverrides["max-pods"]}
			want := model{"my-cluster-name", DefaultKubernetesVersion, "https://kubernetes.example.com:6443", "coredns", "registry.example.com:5000",
				[]string{"kubernetes.example.com", "10.0.0.5"}, true, true, true, 10, "50"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("model (-want +got):\n%s", diff)
			}
		}},
		{"internal-ips-disagree", []want{
			{report.Warning, "etcd.nodes", 6, 3, "a single etcd node is unsafe: use it only for small development clusters", ""},
			{report.Error, "etcd.nodes[0].internal_ip", 6, 76, "internalip (10.0.0.10) and internal_ip (10.0.0.99) disagree", "keep one of internalip and internal_ip"},
			{report.Warning, "master.nodes", 10, 3, "a single master is unsafe: use it only for small development clusters", ""},
		}, nil},
		{"kisgen-key-in-kismatic-plan", []want{
			{report.Error, "versions", 3, 1, `unknown key "versions"`, "\"versions\" is a kisgen key, and this file has no apiVersion so it is read as a Kismatic v1.12 plan: add `apiVersion: kisgen.io/v1alpha1` and `kind: ClusterPlan` at the top"},
			{report.Error, "etcd.os", 7, 3, `unknown key "os"`, ""},
			{report.Warning, "etcd.nodes", 9, 3, "a single etcd node is unsafe: use it only for small development clusters", ""},
			{report.Error, "etcd.nodes[0].mac", 9, 40, `unknown key "mac"`, "\"mac\" is a kisgen key: add `apiVersion: kisgen.io/v1alpha1` and `kind: ClusterPlan` at the top"},
			{report.Warning, "master.nodes", 13, 3, "a single master is unsafe: use it only for small development clusters", ""},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, rep := parseFile(t, filepath.Join("testdata", "kismatic", tt.name+".yaml"))
			if diff := cmp.Diff(tt.want, findingsOf(rep, tt.want)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if p == nil {
				t.Fatal("no plan")
			}
			if p.SourceVersion != KismaticVersion {
				t.Errorf("read as %q", p.SourceVersion)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

// kismaticBase is a valid Kismatic plan the key mapping samples are added to.
const kismaticBase = `cluster:
  name: kubernetes
  ssh: {user: kismaticuser}
etcd:
  expected_count: 1
  nodes: [{host: etcd01, ip: 10.0.0.10}]
master:
  expected_count: 1
  nodes: [{host: master01, ip: 10.0.0.11}]
worker:
  expected_count: 1
  nodes: [{host: worker01, ip: 10.0.0.12}]
`

// TestKismaticKeyMappingsAreWhatConversionDoes checks every row of KismaticKeys (the table
// docs/plan.md prints) against the conversion: a renamed key is located back at its
// Kismatic spelling and carries its value; a reinterpreted or ignored key is reported.
func TestKismaticKeyMappingsAreWhatConversionDoes(t *testing.T) {
	samples := map[string]struct {
		edit  func(string) string
		check func(p *Plan) bool
	}{
		"cluster.name": {func(s string) string { return strings.Replace(s, "name: kubernetes", "name: my_cluster_name", 1) },
			func(p *Plan) bool { return p.Name == "my-cluster-name" }},
		"cluster.version":                    {addUnder("cluster:\n", "  version: v1.10.5\n"), func(p *Plan) bool { return p.Versions.Kubernetes == DefaultKubernetesVersion }},
		"cluster.allow_package_installation": {addUnder("cluster:\n", "  allow_package_installation: false\n"), func(p *Plan) bool { return !p.PackageInstallation }},
		"cluster.networking.type":            {addUnder("cluster:\n", "  networking: {type: routed}\n"), func(p *Plan) bool { return p.Network.Mode == ModeRouted }},
		"add_ons.dashbard":                   {appendText("add_ons: {dashbard: {disable: true}}\n"), func(p *Plan) bool { return !p.AddOns.Dashboard }},
		"master.load_balanced_fqdn":          {addUnder("master:\n", "  load_balanced_fqdn: k8s.example.com\n"), func(p *Plan) bool { return p.APIServerURL() == "https://k8s.example.com:6443" }},
		"master.load_balanced_short_name":    {addUnder("master:\n", "  load_balanced_short_name: k8s\n"), func(p *Plan) bool { return p.APIServerURL() == "https://k8s:6443" }},
		"docker_registry.server":             {appendText("docker_registry: {server: 'registry.example.com:5000'}\n"), func(p *Plan) bool { return p.Mirror.Registry == "registry.example.com:5000" }},
		"docker_registry.address":            {appendText("docker_registry: {address: registry.example.com, port: 5000}\n"), func(p *Plan) bool { return p.Mirror.Registry == "registry.example.com:5000" }},
		"etcd.nodes[].internalip": {func(s string) string {
			return strings.Replace(s, "{host: etcd01, ip: 10.0.0.10}", "{host: etcd01, ip: 10.0.0.10, internalip: 10.1.0.10}", 1)
		}, func(p *Plan) bool { return p.Node("etcd01").InternalIP.String() == "10.1.0.10" }},
		"add_ons.dns.provider":             {appendText("add_ons: {dns: {provider: kubedns}}\n"), func(p *Plan) bool { return p.AddOns.DNSProvider == "coredns" }},
		"cluster.admin_password":           {addUnder("cluster:\n", "  admin_password: secret\n"), nil},
		"cluster.package_repository_urls":  {addUnder("cluster:\n", "  package_repository_urls: http://repo.example.com\n"), nil},
		"cluster.disable_registry_seeding": {addUnder("cluster:\n", "  disable_registry_seeding: true\n"), nil},
		"cluster.cloud_provider":           {addUnder("cluster:\n", "  cloud_provider: {provider: aws}\n"), nil},
		"docker":                           {appendText("docker: {logs: {driver: json-file}}\n"), nil},
		"docker_registry.CA":               {appendText("docker_registry: {server: r.example.com, CA: ca.pem}\n"), nil},
		"docker_registry.setup_internal":   {appendText("docker_registry: {setup_internal: true}\n"), nil},
		"additional_files":                 {appendText("additional_files: [{source: a, destination: /b, hosts: [all]}]\n"), nil},
		"add_ons.cni.options.portmap":      {appendText("add_ons: {cni: {options: {portmap: {disable: true}}}}\n"), nil},
		"add_ons.cni.options.weave":        {appendText("add_ons: {cni: {options: {weave: {password: x}}}}\n"), nil},
		"add_ons.dashboard.options":        {appendText("add_ons: {dashboard: {options: {service_type: NodePort}}}\n"), nil},
		"add_ons.heapster":                 {appendText("add_ons: {heapster: {disable: false}}\n"), nil},
		"add_ons.package_manager":          {appendText("add_ons: {package_manager: {provider: helm}}\n"), nil},
		"add_ons.rescheduler":              {appendText("add_ons: {rescheduler: {disable: false}}\n"), nil},
		"features":                         {appendText("features: {package_manager: {enabled: true}}\n"), nil},
		"nfs":                              {appendText("nfs: {nfs_volume: [{nfs_host: 10.0.0.99, mount_path: /exports}]}\n"), nil},
	}
	p, rep := Parse("base.yaml", []byte(kismaticBase), Options{})
	if p == nil || rep.Count(report.Error) > 0 {
		t.Fatalf("base plan: %v", rep.Findings)
	}
	baseFindings := len(rep.Findings)
	for _, m := range KismaticKeys {
		t.Run(m.Kismatic, func(t *testing.T) {
			s, ok := samples[m.Kismatic]
			if !ok {
				t.Fatalf("no sample for %s: add one to this test", m.Kismatic)
			}
			p, rep := Parse("plan.yaml", []byte(s.edit(kismaticBase)), Options{})
			if p == nil || rep.Count(report.Error) > 0 {
				t.Fatalf("findings: %v", rep.Findings)
			}
			from := strings.ReplaceAll(m.Kismatic, "[]", "[0]")
			if m.Kisgen != "" && m.Kisgen != m.Kismatic {
				to := strings.ReplaceAll(m.Kisgen, "[]", "[0]")
				if src, pos := p.Locate(to); src != from || pos.Line == 0 {
					t.Errorf("%s is located at %s (%d:%d), want %s", to, src, pos.Line, pos.Column, from)
				}
			} else {
				found := false
				for _, f := range rep.Findings {
					if f.Severity == report.Warning && (strings.HasPrefix(from, f.Path) || strings.HasPrefix(f.Path, from)) {
						found = true
					}
				}
				if !found {
					t.Errorf("no warning about %s in %v", from, rep.Findings)
				}
			}
			if len(rep.Findings) < baseFindings {
				t.Errorf("findings of the base plan went missing: %v", rep.Findings)
			}
			if s.check != nil && !s.check(p) {
				t.Errorf("the value of %s did not reach the model", m.Kismatic)
			}
		})
	}
}

func addUnder(anchor, text string) func(string) string {
	return func(s string) string { return strings.Replace(s, anchor, anchor+text, 1) }
}

func appendText(text string) func(string) string { return func(s string) string { return s + text } }

func TestConvertKismatic(t *testing.T) {
	t.Run("an old plan becomes a kisgen plan", func(t *testing.T) {
		data := []byte(addUnder("cluster:\n", "  networking: {type: routed}\n")(kismaticBase))
		v, changes, rep := ConvertKismatic("old.yaml", data)
		if v == nil {
			t.Fatalf("findings: %v", rep.Findings)
		}
		if len(rep.Findings) != 0 {
			t.Errorf("findings: %v", rep.Findings)
		}
		want := []Change{{From: "cluster.networking.type", Position: report.Position{Line: 2, Column: 22},
			To: "add_ons.cni.options.calico.mode", Old: "routed", New: "routed",
			Why: "cluster.networking.type is deprecated", Hint: "move it to add_ons.cni.options.calico.mode"}}
		if diff := cmp.Diff(want, changes); diff != "" {
			t.Errorf("changes (-want +got):\n%s", diff)
		}
		if v.APIVersion != v1alpha1.APIVersion || v.Kind != v1alpha1.Kind || v.AddOns.CNI.Options.Calico.Mode != "routed" || v.Master.Nodes[0].Host != "master01" {
			t.Errorf("converted plan: %+v", v)
		}
	})
	t.Run("a kisgen plan is refused", func(t *testing.T) {
		v, _, rep := ConvertKismatic("new.yaml", readValid(t))
		if v != nil || rep.Count(report.Error) != 1 || !strings.Contains(rep.Findings[0].Message, "already a kisgen plan") {
			t.Fatalf("got %v, %v", v != nil, rep.Findings)
		}
	})
	t.Run("unknown keys are refused, not dropped", func(t *testing.T) {
		v, _, rep := ConvertKismatic("old.yaml", []byte(kismaticBase+"mystery: 1\n"))
		if v != nil || rep.Count(report.Error) != 1 || rep.Findings[0].Line != 13 {
			t.Fatalf("got %v, %v", v != nil, rep.Findings)
		}
	})
	t.Run("unreadable input is refused", func(t *testing.T) {
		v, _, rep := ConvertKismatic("old.yaml", []byte("\x00"))
		if v != nil || rep.Count(report.Error) != 1 {
			t.Fatalf("got %v, %v", v != nil, rep.Findings)
		}
	})
}

func TestDNSLabelFrom(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"my_cluster_name", "my-cluster-name"},
		{"Prod.Cluster", "prod-cluster"},
		{"  edge  cluster 2 ", "edge-cluster-2"},
		{"_lead_and_trail_", "lead-and-trail"},
		{"a__b--c", "a-b-c"},
		{"clüster", "cl-ster"},
		{"___", ""},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
		{strings.Repeat("a", 64), ""},
	} {
		if got := DNSLabelFrom(tt.name); got != tt.want {
			t.Errorf("DNSLabelFrom(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestClusterNames checks the name rule in both schemas: a Kismatic plan's name is made a
// DNS label with a warning (Kismatic accepted any name), a kisgen plan's must be one, and
// the error proposes the label.
func TestClusterNames(t *testing.T) {
	kisgen := func(name string) string {
		return strings.Replace(string(readValid(t)), "name: test", "name: "+name, 1)
	}
	for _, tt := range []struct {
		what, doc, name string
		want            []want
	}{
		{"a Kismatic name with underscores", strings.Replace(kismaticBase, "name: kubernetes", "name: my_cluster_name", 1), "my-cluster-name", []want{
			{report.Warning, "cluster.name", 2, 9, `cluster name "my_cluster_name" is not a DNS label: kisgen names the cluster my-cluster-name in certificates, kubeconfigs and machine names`, "write `name: my-cluster-name`"}}},
		{"a Kismatic name with nothing to keep", strings.Replace(kismaticBase, "name: kubernetes", "name: ___", 1), "___", []want{
			{report.Error, "cluster.name", 2, 9, `cluster name "___" is not a DNS label`, "use lowercase letters, digits and '-' (at most 63): the name is used in certificates, kubeconfigs and machine tags"}}},
		{"a kisgen name with underscores", kisgen("my_cluster_name"), "my_cluster_name", []want{
			{report.Error, "cluster.name", 0, 0, `cluster name "my_cluster_name" is not a DNS label`, "write `name: my-cluster-name`: the name is used in certificates, kubeconfigs and machine tags, which take lowercase letters, digits and '-' (at most 63)"}}},
	} {
		t.Run(tt.what, func(t *testing.T) {
			p, rep := Parse("plan.yaml", []byte(tt.doc), Options{})
			var got []want
			for _, f := range rep.Findings {
				if f.Path == "cluster.name" {
					w := want{f.Severity, f.Path, f.Line, f.Column, f.Message, f.Hint}
					if tt.want[0].Line == 0 {
						w.Line, w.Column = 0, 0
					}
					got = append(got, w)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if p == nil || p.Name != tt.name {
				t.Errorf("name %q, want %q", p.Name, tt.name)
			}
		})
	}
}

func TestChangeString(t *testing.T) {
	for _, tt := range []struct {
		c    Change
		want string
	}{
		{Change{From: "cluster.version", To: "cluster.version", Old: "v1.10.5", New: "v1.37.2", Why: "too old"}, "cluster.version: v1.10.5 → v1.37.2 — too old"},
		{Change{From: "a.b", To: "c.d", Old: "x", New: "x"}, "a.b → c.d: x"},
		{Change{From: "add_ons.dashbard", To: "add_ons.dashboard"}, "add_ons.dashbard → add_ons.dashboard"},
		{Change{From: "docker", Why: "ignored"}, "docker: removed — ignored"},
		{Change{From: "x", To: "y", Old: "", New: "k8s"}, `x → y: "" → k8s`},
		{Change{From: "master.load_balanced_fqdn", To: "master.load_balancer", Old: "lb\x1b[31m", New: "lb\x1b[31m:6443"},
			`master.load_balanced_fqdn → master.load_balancer: "lb\x1b[31m" → "lb\x1b[31m:6443"`},
	} {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
