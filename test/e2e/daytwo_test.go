//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/qemu"
	"github.com/kisgen/kisgen/roles"
)

// TestDayTwo (KISGEN_E2E_DAYTWO=1, make e2e-daytwo): on a running cluster of three VMs,
// master1 (etcd, master, worker), worker1 (etcd, worker) and etcd3 (Calico routed,
// managed hosts files), or with KISGEN_E2E_DAYTWO_ETCD=1 etcd1 (etcd only), master1
// (master, worker) and worker1, with kisgen's own commands:
//
//   - add a worker: render changes no other node's user-data (byte for byte), provision
//     creates only its VM, it becomes Ready and every node's hosts file lists it;
//   - remove it: provision --prune drains it, it is gone from the API and its VM is gone;
//   - replace an etcd member (its certificates reissued): provision --replace replaces only
//     it, while a write and a read through another member every two seconds never fail
//     (three members only);
//   - upgrade Kubernetes from one patch release to another (KISGEN_E2E_UPGRADE_FROM and
//     _TO, v1.36.1 and v1.36.3 by default: the Go module proxy serves one v1.37 release;
//     KISGEN_E2E_UPGRADE=off leaves it out), both built into the mirror, with `kisgen
//     upgrade`, while a Service of two replicas is asked twice a second from an etcd node
//     through the nodes' NodePorts and no request may fail (upgrade_test.go).
//
// Every step is timed.
func TestDayTwo(t *testing.T) {
	if os.Getenv("KISGEN_E2E_DAYTWO") == "" {
		t.Skip("KISGEN_E2E_DAYTWO is not set")
	}
	if daytwoEtcd != "1" && daytwoEtcd != "3" {
		t.Fatalf("KISGEN_E2E_DAYTWO_ETCD=%q: 1 or 3 etcd members", daytwoEtcd)
	}
	r := newRun(t, "daytwo")
	sources := os.Getenv("KISGEN_SOURCES")
	if sources == "" {
		sources = filepath.Join(repoRoot(), "..", "shared", "src")
	}
	mirrorPort := freePort(t)
	writeCalicoPlan(t, r.planFile, plan.ModeRouted, mirrorPort, 2900, r.imageDir)
	doc := readDoc(t, r.planFile)
	doc["cluster"].(map[string]any)["name"] = "e2e-daytwo"
	if upgradeOn {
		doc["cluster"].(map[string]any)["version"] = upgradeFrom
	}
	// Three etcd members on three VMs (KISGEN_E2E_DAYTWO_ETCD=3, the default): master1 and
	// worker1 hold a member each, as Kismatic allowed, and etcd3 is etcd only. A host gets
	// the largest size of its groups: master1 three vCPUs like the Calico test's, worker1
	// and the etcd-only members one. Under TCG on two host cores this cluster never
	// verified (master1's API server starved waiting on its etcd member: 87-97 % CPU
	// pressure, in three topologies), so KISGEN_E2E_DAYTWO_ETCD=1 runs every step but the
	// etcd member's replacement with one etcd-only member, etcd1, which none of the
	// steps replaces.
	members := []any{map[string]any{"host": "master1", "ip": "10.10.0.21"}, map[string]any{"host": "worker1", "ip": "10.10.0.31"},
		map[string]any{"host": "etcd3", "ip": "10.10.0.13"}}
	if daytwoEtcd == "1" {
		members = []any{map[string]any{"host": "etcd1", "ip": "10.10.0.11"}}
	}
	doc["etcd"] = map[string]any{"expected_count": len(members), "machine": map[string]any{"cpus": 1, "memory_mb": 1024}, "nodes": members}
	doc["master"].(map[string]any)["machine"] = map[string]any{"cpus": 3, "memory_mb": 3584}
	doc["worker"].(map[string]any)["machine"] = map[string]any{"cpus": 1, "memory_mb": 2048}
	writeDoc(t, r.planFile, doc)
	p := loadPlan(t, r.planFile)
	writeHTTPDArchive(t, r.work, filepath.Join(r.mirrorDir, "images", "e2e-httpd.tar"))
	mirrorArgs := []string{"--sources", sources, "--pause-image"}
	r.boot(p, mirrorPort, mirrorArgs...)
	c := &calicoCluster{t: t, p: p, addr: r.addr, key: r.signer}

	hostsList := func(host, want string, present bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			out, err := c.on(host, "cat /etc/hosts")
			if err == nil && strings.Contains(out, want) == present {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s's hosts file: %q present %v, want %v:\n%s", host, want, !present, present, out)
			}
			time.Sleep(15 * time.Second)
		}
	}
	withWorker3 := func(add bool) {
		doc := readDoc(t, r.planFile)
		w := doc["worker"].(map[string]any)
		nodes := w["nodes"].([]any)
		if add {
			nodes = append(nodes, map[string]any{"host": "worker3", "ip": "10.10.0.33"})
		} else {
			nodes = nodes[:len(nodes)-1]
		}
		w["nodes"], w["expected_count"] = nodes, len(nodes)
		writeDoc(t, r.planFile, doc)
	}

	step := func(key, name string, f func()) {
		if !daytwoStep(key) {
			t.Logf("%s: left out (KISGEN_E2E_DAYTWO_STEPS=%s)", name, os.Getenv("KISGEN_E2E_DAYTWO_STEPS"))
			return
		}
		r.step(name, f)
	}
	step("add", "add a worker", func() {
		before := r.userdata()
		withWorker3(true)
		r.kisgen(commandWait, "render", "-f", r.planFile)
		after := r.userdata()
		for host, data := range before {
			if !bytes.Equal(data, after[host]) {
				t.Errorf("%s's user-data changed when worker3 was added", host)
			}
		}
		if after["worker3"] == nil {
			t.Fatal("no user-data for worker3")
		}
		r.kisgen(commandWait, "provision", "qemu", "-f", r.planFile)
		r.refreshAddrs()
		waitFor(t, "worker3 Ready", verifyWait, func() error {
			out, err := c.kubectl("get node worker3 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}'")
			if err != nil || strings.TrimSpace(out) != "True" {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		for _, n := range p.Nodes {
			hostsList(n.Host, "10.10.0.33 worker3", true)
		}
	})

	step("remove", "remove a worker", func() {
		withWorker3(false)
		r.kisgen(commandWait, "render", "-f", r.planFile)
		r.kisgen(commandWait, "provision", "qemu", "-f", r.planFile, "--prune", "--yes")
		if out, err := c.kubectl("get node worker3"); err == nil || !strings.Contains(out, "NotFound") {
			t.Errorf("worker3 is still in the API: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(r.work, ".cache", "qemu", p.Name, "worker3")); !os.IsNotExist(err) {
			t.Errorf("worker3's VM directory is still there: %v", err)
		}
		for _, n := range p.Nodes {
			hostsList(n.Host, "worker3", false)
		}
	})

	step("etcd", "replace an etcd member", func() {
		if len(p.NodesWith(plan.RoleEtcd)) < 3 {
			t.Logf("one etcd member (KISGEN_E2E_DAYTWO_ETCD=1): replacing it cannot keep a quorum; left out")
			return
		}
		r.kisgen(commandWait, "certs", "rotate", "-f", r.planFile, "etcd-server-etcd3", "etcd-peer-etcd3")
		before := r.userdata()
		r.kisgen(commandWait, "render", "-f", r.planFile)
		after := r.userdata()
		for host := range before {
			if changed := !bytes.Equal(before[host], after[host]); changed != (host == "etcd3") {
				t.Errorf("%s's user-data changed: %v", host, changed)
			}
		}
		// Quorum: a write and a read through master1's member every two seconds.
		var failures, requests atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Second):
				}
				cmd := "sudo " + strings.Join(roles.EtcdctlCommand("--command-timeout=5s", "put", "/e2e/quorum", fmt.Sprint(i)), " ") +
					" && sudo " + strings.Join(roles.EtcdctlCommand("--command-timeout=5s", "get", "/e2e/quorum", "--print-value-only"), " ")
				requests.Add(1)
				if out, err := c.on("master1", cmd); err != nil || !strings.Contains(out, fmt.Sprint(i)) {
					failures.Add(1)
					t.Logf("quorum check %d: %v %s", i, err, out)
				}
			}
		}()
		r.kisgen(commandWait, "provision", "qemu", "-f", r.planFile, "--replace", "--yes")
		close(stop)
		wg.Wait()
		t.Logf("etcd writes and reads through master1's member during the replacement: %d, failed: %d", requests.Load(), failures.Load())
		if failures.Load() > 0 {
			t.Errorf("the quorum was lost: %d of %d writes failed", failures.Load(), requests.Load())
		}
		r.refreshAddrs()
		out, err := c.on("master1", "sudo "+strings.Join(roles.EtcdctlCommand("member", "list"), " "))
		if err != nil || strings.Count(out, "started") != 3 {
			t.Errorf("etcd members: %v\n%s", err, out)
		}
	})
	if upgradeOn {
		step("upgrade", "upgrade "+upgradeFrom+" to "+upgradeTo, func() { r.upgrade(c, mirrorArgs) })
	}
	r.step("verify", func() {
		r.kisgen(verifyWait, "verify", "-f", r.planFile, "--wait", "20m", "--interval", "30s", "--dial-timeout", "60s", "--command-timeout", "3m")
	})
	r.finish()
}

// daytwoStep says whether TestDayTwo runs a step: KISGEN_E2E_DAYTWO_STEPS lists the
// steps to run (add, remove, etcd, upgrade; every step when unset), for a second run of
// the steps a first one did not reach (each needs only the booted cluster).
func daytwoStep(key string) bool {
	list := os.Getenv("KISGEN_E2E_DAYTWO_STEPS")
	return list == "" || slices.Contains(strings.Split(list, ","), key)
}

// daytwoEtcd is TestDayTwo's etcd member count: 3, or 1 where the host cannot run three
// members on emulated VMs beside a control plane.
var daytwoEtcd = envString("KISGEN_E2E_DAYTWO_ETCD", "3")

// userdata reads the user-data `kisgen render` wrote, by host.
func (r *e2eRun) userdata() map[string][]byte {
	r.t.Helper()
	out := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(r.work, "userdata", "*.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			r.t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".yaml")] = data
	}
	return out
}

// refreshAddrs reads where each node's sshd is after provision created or replaced
// machines.
func (r *e2eRun) refreshAddrs() {
	r.t.Helper()
	insts, err := qemu.LoadInstances(filepath.Join(r.work, plan.DefaultStateDirName))
	if err != nil {
		r.t.Fatal(err)
	}
	for _, in := range insts {
		r.addr[in.Host] = in.SSHAddr
	}
}

func readDoc(t *testing.T, file string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func writeDoc(t *testing.T, file string, doc map[string]any) {
	t.Helper()
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls f until it succeeds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(15 * time.Second)
	}
}
