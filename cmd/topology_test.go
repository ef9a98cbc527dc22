package cmd

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// A valid plan's topology follows the summary, as text and in -o json; an invalid plan
// has none.
func TestValidatePrintsTopology(t *testing.T) {
	path := planDir(t, "ha.yaml")
	code, out, _ := run(t, nil, "validate", "-f", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, s := range []string{"ROLES   HOST", "worker  worker2  10.10.0.32", "example.com/gpu=true",
		"api server: https://10.10.0.20:6443, load-balanced to 2 master(s): 10.10.0.21:6443 10.10.0.22:6443",
		"pod range:  172.16.0.0/16 (Calico): 1024 blocks of 64 addresses"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	_, out, _ = run(t, nil, "validate", "-o", "json", "-f", path)
	var doc struct {
		Valid    bool
		Topology *struct {
			Nodes []struct{ Host string }
			Pods  struct{ Blocks int } `json:"pod_range"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if doc.Topology == nil || len(doc.Topology.Nodes) != 8 || doc.Topology.Pods.Blocks != 1024 {
		t.Errorf("json topology = %+v, want 8 nodes and 1024 blocks:\n%s", doc.Topology, out)
	}

	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "ip: 10.10.0.33", "ip: 10.10.0.11", 1)), 0o644)
	code, out, _ = run(t, nil, "validate", "-f", path)
	if code != 1 || strings.Contains(out, "api server:") {
		t.Errorf("an invalid plan: exit %d, want 1 and no topology:\n%s", code, out)
	}
	_, out, _ = run(t, nil, "validate", "-o", "json", "-f", path)
	if strings.Contains(out, `"topology"`) {
		t.Errorf("an invalid plan's json has a topology:\n%s", out)
	}
}

// kisgen plan prints the topology of the plan it wrote.
func TestPlanPrintsTopology(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := run(t, nil, "plan", "--non-interactive", "--etcd", "1", "--masters", "1", "--workers", "2", "--cni", "bridge",
		"-f", dir+"/kismatic-cluster.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{"worker  worker2", "pod range:  172.16.0.0/16 (bridge): one /24 (256 addresses) per Kubernetes node, 3 in use, room for 256 nodes"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
}
