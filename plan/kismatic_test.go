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
			{report.Error, "cluster.version", 3, 12, "Kubernetes v1.10.5 is older than kisgen supports: its flags and configuration differ", ""},
			{report.Warning, "docker", 35, 3, "the docker section is ignored: kisgen runs containerd, which Kubernetes talks to directly", ""},
			{report.Warning, "add_ons.dns.provider", 71, 15, "kube-dns was retired from Kubernetes; kisgen installs CoreDNS instead", "write `provider: coredns`"},
			{report.Warning, "add_ons.heapster", 75, 5, "Heapster was retired from Kubernetes and is not installed", ""},
			{report.Warning, "add_ons.package_manager", 90, 5, "the package_manager add-on (Helm 2 / Tiller) is not installed: Tiller was removed in Helm 3", ""},
			{report.Warning, "add_ons.rescheduler", 96, 5, "the rescheduler was removed from Kubernetes and is not installed", ""},
		}, func(t *testing.T, p *Plan) {
			got := struct {
				Source, LB, DNS  string
				Port             int
				Service          string
				Internal         []string
				Labels           map[string]string
				Taints           []Taint
				Dashboard, Pkgs  bool
				ExpectedEtcd     int
				UpdateHostsFiles bool
			}{p.SourceVersion, p.LoadBalancer, p.AddOns.DNSProvider, p.LoadBalancerPort, p.Network.ServiceCIDR.String(),
				nil, p.Node("worker01").Labels, p.Node("worker01").Taints, p.AddOns.Dashboard, p.PackageInstallation,
				p.Groups[RoleEtcd].ExpectedCount, p.Network.UpdateHostsFiles}
			for _, n := range p.Nodes {
				got.Internal = append(got.Internal, n.InternalIP.String())
			}
			want := got
			want.Source, want.LB, want.DNS, want.Port = KismaticVersion, "kubernetes.example.com", "coredns", 6443
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
			{report.Warning, "master.nodes", 33, 3, "a single master is unsafe: use it only for small development clusters", ""},
		}, func(t *testing.T, p *Plan) {
			type model struct {
				Mode                CalicoMode
				PackageInstallation bool
				Dashboard           bool
				Registry            string
				LB                  string
				Internal            []string
			}
			got := model{p.Network.Mode, p.PackageInstallation, p.AddOns.Dashboard, p.Mirror.Registry, p.APIServerURL(), nil}
			for _, n := range p.Nodes {
				got.Internal = append(got.Internal, n.InternalIP.String())
			}
			want := model{ModeRouted, false, false, "registry.example.com:5000", "https://kubernetes.example.com:6443",
				[]string{"10.0.0.10", "10.0.0.11", "10.0.0.12"}}
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
		v, rep := ConvertKismatic("old.yaml", data)
		if v == nil {
			t.Fatalf("findings: %v", rep.Findings)
		}
		want := []want{{report.Warning, "cluster.networking.type", 2, 22, "cluster.networking.type is deprecated", ""}}
		if diff := cmp.Diff(want, findingsOf(rep, want)); diff != "" {
			t.Errorf("findings (-want +got):\n%s", diff)
		}
		if v.APIVersion != v1alpha1.APIVersion || v.Kind != v1alpha1.Kind || v.AddOns.CNI.Options.Calico.Mode != "routed" || v.Master.Nodes[0].Host != "master01" {
			t.Errorf("converted plan: %+v", v)
		}
		if rep.Findings[0].File != "old.yaml" {
			t.Errorf("findings name %q", rep.Findings[0].File)
		}
	})
	t.Run("a kisgen plan is refused", func(t *testing.T) {
		v, rep := ConvertKismatic("new.yaml", readValid(t))
		if v != nil || rep.Count(report.Error) != 1 || !strings.Contains(rep.Findings[0].Message, "already a kisgen plan") {
			t.Fatalf("got %v, %v", v != nil, rep.Findings)
		}
	})
	t.Run("unknown keys are refused, not dropped", func(t *testing.T) {
		v, rep := ConvertKismatic("old.yaml", []byte(kismaticBase+"mystery: 1\n"))
		if v != nil || rep.Count(report.Error) != 1 || rep.Findings[0].Line != 13 {
			t.Fatalf("got %v, %v", v != nil, rep.Findings)
		}
	})
	t.Run("unreadable input is refused", func(t *testing.T) {
		v, rep := ConvertKismatic("old.yaml", []byte("\x00"))
		if v != nil || rep.Count(report.Error) != 1 {
			t.Fatalf("got %v, %v", v != nil, rep.Findings)
		}
	})
}
