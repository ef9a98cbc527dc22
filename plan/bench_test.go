package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bigPlan is a plan of n workers (3 etcd, 3 masters), as a large site would write.
func bigPlan(n int) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\ncluster:\n  name: big\n  networking: {pod_cidr_block: 10.64.0.0/10}\n")
	b.WriteString("etcd:\n  expected_count: 3\n  nodes:\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "  - {host: etcd%d, ip: 10.0.0.%d}\n", i, i)
	}
	b.WriteString("master:\n  expected_count: 3\n  load_balancer: k8s.example.com:6443\n  nodes:\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "  - {host: master%d, ip: 10.0.1.%d}\n", i, i)
	}
	fmt.Fprintf(&b, "worker:\n  expected_count: %d\n  nodes:\n", n)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - host: worker%d\n    ip: 10.1.%d.%d\n    labels: {example.com/rack: r%d}\n", i, i/250, i%250+1, i%40)
	}
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	ha, err := os.ReadFile(filepath.Join("..", "examples", "ha.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"ha-8-nodes", ha}, {"1000-workers", bigPlan(1000)}, {"10000-workers", bigPlan(10000)}} {
		b.Run(c.name, func(b *testing.B) {
			if _, rep := Parse("p.yaml", c.data, Options{}); len(rep.Findings) != 0 {
				b.Fatalf("findings: %v", rep.Findings[:min(3, len(rep.Findings))])
			}
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				Parse("p.yaml", c.data, Options{})
			}
		})
	}
}
