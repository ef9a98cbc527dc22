package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/plan"
)

// examplePlan parses one of the repository's example plans (without checking the SSH
// key file, which the examples keep beside them).
func examplePlan(t testing.TB, name string) *plan.Plan {
	t.Helper()
	path := filepath.Join("..", "examples", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parsePlan(t, path, data)
}

func parsePlan(t testing.TB, name string, data []byte) *plan.Plan {
	t.Helper()
	p, rep := plan.Parse(name, data, plan.Options{})
	if rep.IsFatal(false) {
		var b strings.Builder
		_ = rep.WriteText(&b, data)
		t.Fatalf("plan %s is invalid:\n%s", name, b.String())
	}
	return p
}

// planYAML writes a kisgen plan with the given node counts; edit changes the
// certificates section (extra lines under cluster.certificates).
func planYAML(etcd, masters, workers int, certLines ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: bench
  version: v1.37.2
  networking:
    pod_cidr_block: 172.16.0.0/12
    service_cidr_block: 10.96.0.0/16
  certificates:
    expiry: 17520h
    ca_expiry: 43800h
`)
	for _, l := range certLines {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	fmt.Fprintf(&b, `  ssh:
    user: kismaticuser
    ssh_key: kismaticuser.key
    ssh_port: 22
`)
	ip := 0
	group := func(role string, n int, extra string) {
		fmt.Fprintf(&b, "%s:\n  expected_count: %d\n%s  nodes:\n", role, n, extra)
		for i := 1; i <= n; i++ {
			ip++
			fmt.Fprintf(&b, "  - host: %s%d\n    ip: 10.%d.%d.%d\n", role, i, 1+ip/65536, (ip/256)%256, ip%256)
		}
	}
	group("etcd", etcd, "")
	lb := ""
	if masters > 1 {
		lb = "  load_balancer: lb.example.com:6443\n"
	}
	group("master", masters, lb)
	group("worker", workers, "")
	return []byte(b.String())
}

func genPlan(t testing.TB, etcd, masters, workers int, certLines ...string) *plan.Plan {
	t.Helper()
	return parsePlan(t, "generated.yaml", planYAML(etcd, masters, workers, certLines...))
}
