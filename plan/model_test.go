package plan

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
)

func TestModelHelpers(t *testing.T) {
	p, _ := parseFile(t, filepath.Join("testdata", "rules", "valid.yaml"))
	got := map[string]any{
		"api":       p.APIServerURL(),
		"first":     p.FirstServiceIP().String(),
		"dns":       p.ServiceIP(10).String(),
		"etcd":      p.EtcdEndpoints(),
		"masters":   len(p.NodesWith(RoleMaster)),
		"node":      p.Node("worker1").IP.String(),
		"none":      p.Node("nope") == nil,
		"kube":      p.Node("worker1").IsKubernetesNode() && !p.Node("etcd1").IsKubernetesNode(),
		"group":     p.Node("worker1").Group.Role,
		"format":    p.Node("etcd1").Group.Format,
		"indexes":   p.Node("worker1").Index,
		"provider":  p.Provider.Name,
		"adminCIDR": p.Provider.AWS.AdminCIDRs,
	}
	want := map[string]any{
		"api":       "https://10.0.0.20:6443",
		"first":     "172.17.0.1",
		"dns":       "172.17.0.10",
		"etcd":      []string{"https://10.0.0.11:2379", "https://10.0.0.12:2379", "https://10.0.0.13:2379"},
		"masters":   2,
		"node":      "10.0.0.31",
		"none":      true,
		"kube":      true,
		"group":     RoleWorker,
		"format":    FormatCloudInit,
		"indexes":   5,
		"provider":  "qemu",
		"adminCIDR": []string(nil), // no default: nothing is open to the internet unless the plan says so
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSingleMasterWithoutLoadBalancerUsesItsInternalIP(t *testing.T) {
	p, _ := parseFile(t, filepath.Join("testdata", "rules", "single-master-is-unsafe.yaml"))
	if p.APIServerURL() != "https://10.0.0.21:6443" || p.LoadBalancerPlanned {
		t.Errorf("got %s (planned %v)", p.APIServerURL(), p.LoadBalancerPlanned)
	}
}

func TestHostInSeveralGroupsIsOneNode(t *testing.T) {
	p, rep := parseFile(t, filepath.Join("testdata", "rules", "host-in-two-groups-merges.yaml"))
	if len(rep.Findings) != 0 {
		t.Fatalf("findings: %v", rep.Findings)
	}
	n := p.Node("master1")
	got := struct {
		Roles   []Role
		Labels  map[string]string
		Sources []string
		Nodes   int
	}{n.Roles, n.Labels, n.Sources, len(p.Nodes)}
	want := struct {
		Roles   []Role
		Labels  map[string]string
		Sources []string
		Nodes   int
	}{[]Role{RoleMaster, RoleWorker}, map[string]string{"example.com/a": "x", "example.com/b": "y"}, []string{"master.nodes[0]", "worker.nodes[1]"}, 6}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestProxyNoProxyListsTheCluster(t *testing.T) {
	data := strings.Replace(string(readValid(t)), "  name: test\n", "  name: test\n  networking: {https_proxy: 'http://proxy:3128', no_proxy: 'corp.example.com, .internal'}\n", 1)
	p, rep := Parse("plan.yaml", []byte(data), Options{})
	if len(rep.Findings) != 0 {
		t.Fatalf("findings: %v", rep.Findings)
	}
	for _, want := range []string{".internal", "corp.example.com", "localhost", "127.0.0.1", "etcd1", "10.0.0.31", "172.16.0.0/16", "172.17.0.0/16", "10.0.0.20", ".svc"} {
		if !strings.Contains(","+p.Network.Proxy.NoProxy+",", ","+want+",") {
			t.Errorf("no_proxy %q lacks %s", p.Network.Proxy.NoProxy, want)
		}
	}
}

func TestFindingIsLocatedInTheSource(t *testing.T) {
	p, _ := parseFile(t, filepath.Join("testdata", "kismatic", "older-keys.yaml"))
	got := []report.Finding{
		p.Finding(report.Warning, "master.load_balancer", "m", "h"),
		p.Finding(report.Error, "master.nodes[0].internal_ip", "m", "h"),
		p.Finding(report.Error, "provider.aws.region", "m", "h"), // not in the file: the document
	}
	want := []report.Finding{
		{Severity: report.Warning, File: "older-keys.yaml", Path: "master.load_balanced_fqdn", Position: report.Position{Line: 30, Column: 23}, Message: "m", Hint: "h"},
		{Severity: report.Error, File: "older-keys.yaml", Path: "master.nodes[0].internal_ip", Position: report.Position{Line: 36, Column: 18}, Message: "m", Hint: "h"},
		{Severity: report.Error, File: "older-keys.yaml", Path: "provider.aws.region", Position: report.Position{Line: 2, Column: 1}, Message: "m", Hint: "h"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseIsDeterministic(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.yaml"))
	for _, f := range files {
		_, a := parseFile(t, f)
		for i := 0; i < 3; i++ {
			_, b := parseFile(t, f)
			if diff := cmp.Diff(a, b); diff != "" {
				t.Fatalf("%s: reports differ between runs (-first +later):\n%s", f, diff)
			}
		}
	}
}
