//go:build e2e

package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/kubeapi"
	"github.com/kisgen/kisgen/pki"
)

// TestDrainRespectsPodDisruptionBudgets drains a node through a real kube-apiserver
// whose real kube-controller-manager runs the disruption controller: two Ready pods of a
// PodDisruptionBudget with minAvailable 1 sit on worker1. The first eviction is allowed,
// the second is refused (429) until a replacement pod elsewhere is Ready; the drain
// waits for it, and a drain that nothing unblocks fails naming the pod. The test plays
// the kubelets: it marks pods Ready and finishes their termination.
func TestDrainRespectsPodDisruptionBudgets(t *testing.T) {
	api := startAPIServer(t)
	kcm := filepath.Join(api.kdir, "kube-controller-manager")
	cmConf, ok := api.b.Kubeconfig(pki.ControllerManager)
	if !ok {
		t.Fatal("no controller-manager kubeconfig")
	}
	dir := t.TempDir()
	writeTo(t, dir, "cm.conf", cmConf)
	port := freePorts(t, 1)[0]
	testtool.Start(t, "kube-controller-manager.log", kcm, "--kubeconfig", filepath.Join(dir, "cm.conf"),
		"--authentication-kubeconfig", filepath.Join(dir, "cm.conf"), "--authorization-kubeconfig", filepath.Join(dir, "cm.conf"),
		"--controllers", "disruption", "--use-service-account-credentials", "--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(port))

	admin, _ := api.b.Kubeconfig(pki.Admin)
	c, err := kubeapi.New(admin, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Poll = time.Second
	kubectl := func(stdin string, args ...string) string {
		t.Helper()
		cmd := []string{"--kubeconfig", api.adminConf}
		if stdin != "" {
			f := filepath.Join(t.TempDir(), "in.yaml")
			if err := os.WriteFile(f, []byte(stdin), 0o600); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-f", f)
		}
		out, err := runOut(api.kubectl, append(cmd, args...)...)
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return out
	}
	for _, n := range []string{"worker1", "worker2"} {
		kubectl(fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n", n), "create")
	}
	kubectl("", "create", "serviceaccount", "default", "-n", "default") // no token controller runs here
	pod := func(name, node string) {
		kubectl(fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\n  labels: {app: web}\nspec:\n  nodeName: %s\n  containers: [{name: c, image: registry.k8s.io/pause:3.10.1}]\n", name, node), "create")
		// As its kubelet would: running and Ready.
		kubectl("", "patch", "pod", name, "-n", "default", "--subresource", "status", "--type", "merge", "-p",
			`{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}`)
	}
	pod("web-a", "worker1")
	pod("web-b", "worker1")
	kubectl("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, namespace: default}\nspec:\n  minAvailable: 1\n  selector: {matchLabels: {app: web}}\n", "create")
	testtool.WaitFor(t, "the disruption controller allows one disruption", 2*time.Minute, func() error {
		out := kubectl("", "get", "pdb", "web", "-n", "default", "-o", "jsonpath={.status.disruptionsAllowed}")
		if out != "1" {
			return fmt.Errorf("disruptionsAllowed %q", out)
		}
		return nil
	})

	// The kubelets' part of a deletion: a pod given a deletion time is removed.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			out, _ := runOut(api.kubectl, "--kubeconfig", api.adminConf, "get", "pods", "-n", "default", "-o",
				`jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.metadata.name}{"\n"}{end}`)
			for _, name := range strings.Fields(out) {
				_, _ = runOut(api.kubectl, "--kubeconfig", api.adminConf, "delete", "pod", name, "-n", "default", "--grace-period=0", "--force")
			}
			time.Sleep(500 * time.Millisecond)
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	t.Run("a drain the budget keeps blocked fails naming the pod", func(t *testing.T) {
		var said []string
		err := c.Drain(context.Background(), "worker1", 15*time.Second, func(s string) { said = append(said, s) })
		if err == nil || !strings.Contains(err.Error(), "pods still there after 15s") || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget") {
			t.Fatalf("drain: %v", err)
		}
		if len(said) != 2 || !strings.HasPrefix(said[0], "evicted default/web-") || !strings.HasPrefix(said[1], "waiting for the disruption budget of default/web-") {
			t.Errorf("progress: %q", said)
		}
		n, _, _ := c.GetNode(context.Background(), "worker1")
		if !n.Unschedulable {
			t.Error("worker1 is not cordoned")
		}
	})

	// A replacement elsewhere becomes Ready: the budget allows the second eviction.
	done := make(chan error, 1)
	go func() { done <- c.Drain(context.Background(), "worker1", 2*time.Minute, nil) }()
	time.Sleep(3 * time.Second)
	select {
	case err := <-done:
		t.Fatalf("the drain ended before the replacement was Ready: %v", err)
	default:
	}
	pod("web-c", "worker2")
	if err := <-done; err != nil {
		t.Fatalf("drain: %v", err)
	}
	left := kubectl("", "get", "pods", "-n", "default", "-o", "jsonpath={.items[*].spec.nodeName}")
	if strings.Contains(left, "worker1") {
		t.Errorf("pods left on worker1: %s", left)
	}
	if err := c.DeleteNode(context.Background(), "worker1"); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.GetNode(context.Background(), "worker1"); found || err != nil {
		t.Errorf("worker1 still there: %v", err)
	}
}
