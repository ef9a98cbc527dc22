package topology_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/topology"
	"github.com/kisgen/kisgen/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func load(t *testing.T, name string, data []byte) *plan.Plan {
	t.Helper()
	p, rep := plan.Parse(name, data, plan.Options{})
	if p == nil || rep.IsFatal(false) {
		var b bytes.Buffer
		_ = rep.WriteText(&b, data)
		t.Fatalf("%s does not load:\n%s", name, b.String())
	}
	return p
}

func example(t *testing.T, name string) *plan.Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return load(t, name, data)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got), rerun with -update if intended:\n%s", path, d)
	}
}

// Every example's table, as text and as JSON, is kept as a golden file; the JSON must
// read back into the same Table.
func TestExamplesGolden(t *testing.T) {
	for _, ex := range []string{"minimal.yaml", "ha.yaml", "pxe-cluster.yaml", "kismatic-v1.12.yaml"} {
		t.Run(ex, func(t *testing.T) {
			tab := topology.Of(example(t, ex))
			var text bytes.Buffer
			if err := tab.Write(&text); err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(ex, ".yaml")
			golden(t, base+".txt", text.Bytes())
			js, err := json.MarshalIndent(tab, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, base+".json", append(js, '\n'))
			var back topology.Table
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(*tab, back); d != "" {
				t.Errorf("JSON does not read back (-want +got):\n%s", d)
			}
		})
	}
}

const planHead = `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: t
  networking:
    pod_cidr_block: %POD%
    service_cidr_block: 10.96.0.0/16
  ssh:
    user: u
    ssh_key: k
add_ons:
  cni:
%CNI%
etcd:
  expected_count: 1
  nodes:
  - host: e1
    ip: 10.0.0.1
master:
  expected_count: 1
  nodes:
  - host: m1
    ip: 10.0.0.2
    internalip: 192.168.0.2
worker:
  expected_count: 2
  nodes:
  - host: w1
    ip: 10.0.0.3
  - host: w2
    ip: 10.0.0.4
    labels:
      b: "2"
      a: "1"
`

// The pod range's division follows the CNI: Calico's /26 blocks, the bridge plugin's
// per-node subnets, nothing for a plan's own network.
func TestPodRange(t *testing.T) {
	tests := []struct {
		name, pod, cni string
		want           topology.PodRange
	}{
		{"calico /16 holds 1024 blocks of 64", "172.16.0.0/16", "    provider: calico",
			topology.PodRange{CIDR: "172.16.0.0/16", CNI: "calico", BlockBits: 26, BlockAddresses: 64, Blocks: 1024, KubernetesNodes: 3, MaxNodes: 1024}},
		{"calico /24 holds 4 blocks", "172.16.0.0/24", "    provider: calico",
			topology.PodRange{CIDR: "172.16.0.0/24", CNI: "calico", BlockBits: 26, BlockAddresses: 64, Blocks: 4, KubernetesNodes: 3, MaxNodes: 4}},
		{"bridge gives each node a /24 when there is room", "172.16.0.0/16", "    provider: bridge",
			topology.PodRange{CIDR: "172.16.0.0/16", CNI: "bridge", BlockBits: 24, BlockAddresses: 256, Blocks: 256, KubernetesNodes: 3, MaxNodes: 256}},
		{"bridge shrinks the subnets in a small range", "172.16.0.0/23", "    provider: bridge",
			topology.PodRange{CIDR: "172.16.0.0/23", CNI: "bridge", BlockBits: 25, BlockAddresses: 128, Blocks: 4, KubernetesNodes: 3, MaxNodes: 4}},
		{"a disabled CNI is not divided", "172.16.0.0/16", "    disable: true",
			topology.PodRange{CIDR: "172.16.0.0/16", KubernetesNodes: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.NewReplacer("%POD%", tt.pod, "%CNI%", tt.cni).Replace(planHead)
			tab := topology.Of(load(t, "t.yaml", []byte(doc)))
			if d := cmp.Diff(tt.want, tab.Pods); d != "" {
				t.Errorf("pod range (-want +got):\n%s", d)
			}
		})
	}
}

// Without a load balancer the address is the first master's internal one; labels are sorted.
func TestNodesAndAPIServer(t *testing.T) {
	doc := strings.NewReplacer("%POD%", "172.16.0.0/16", "%CNI%", "    provider: calico").Replace(planHead)
	tab := topology.Of(load(t, "t.yaml", []byte(doc)))
	want := topology.APIServer{Address: "192.168.0.2:6443", Masters: []string{"192.168.0.2:6443"}}
	if d := cmp.Diff(want, tab.APIServer); d != "" {
		t.Errorf("api server (-want +got):\n%s", d)
	}
	m1 := tab.Nodes[1]
	if m1.Host != "m1" || m1.IP != "10.0.0.2" || m1.InternalIP != "192.168.0.2" {
		t.Errorf("m1 = %+v, want ip 10.0.0.2, internal 192.168.0.2", m1)
	}
	if d := cmp.Diff([]string{"a=1", "b=2"}, tab.Nodes[3].Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	var text bytes.Buffer
	if err := tab.Write(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "the plan names no load balancer") {
		t.Errorf("text does not say there is no load balancer:\n%s", text.String())
	}
}
