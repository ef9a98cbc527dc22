package qemu

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/kisgen/kisgen/plan"
)

func TestShareNice(t *testing.T) {
	for _, c := range []struct{ cpus, largest, want int }{
		{3, 3, 0},
		{1, 1, 0},
		{1, 3, 5}, // weight 335, a third of 1024 is 341
		{2, 3, 2}, // 655 against 683
		{1, 2, 3}, // 526 against 512
		{1, 8, 9}, // 137 against 128
		{1, 64, 19},
		{0, 3, 0},
	} {
		if got := shareNice(c.cpus, c.largest); got != c.want {
			t.Errorf("shareNice(%d, %d) = %d, want %d", c.cpus, c.largest, got, c.want)
		}
	}
}

// stubAutogroup makes shareHost see autogroup scheduling as on or off.
func stubAutogroup(t *testing.T, on bool) {
	orig := autogroupEnabled
	autogroupEnabled = func() bool { return on }
	t.Cleanup(func() { autogroupEnabled = orig })
}

// sessionStandIn starts a process in a session of its own, as qemu -daemonize runs, so
// that it has an autogroup of its own.
func sessionStandIn(t *testing.T) int {
	t.Helper()
	if _, err := os.Stat("/proc/self/autogroup"); err != nil {
		t.Skip("this kernel has no autogroup scheduling:", err)
	}
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// autogroupNice reads the nice of pid's autogroup from the kernel ("/autogroup-12 nice 5").
func autogroupNice(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	return f[len(f)-1]
}

// shareMasterAndWorker runs shareHost on a 3-vCPU master and a 1-vCPU worker, each a
// process in a session of its own, as Provision does, and returns them, their pids and
// the progress.
func shareMasterAndWorker(t *testing.T) (master, worker *vm, pids map[*vm]int, out *bytes.Buffer) {
	t.Helper()
	master = &vm{node: &plan.Node{Host: "master1"}, cpus: 3}
	worker = &vm{node: &plan.Node{Host: "worker1"}, cpus: 1}
	pids = map[*vm]int{master: sessionStandIn(t), worker: sessionStandIn(t)}
	out = new(bytes.Buffer)
	prog := newProgress(out)
	largest := largestCPUs([]*vm{master, worker})
	for _, v := range []*vm{master, worker} {
		shareHost(prog, v, pids[v], largest)
	}
	return master, worker, pids, out
}

func TestShareHostWeighsVMsByVCPUs(t *testing.T) {
	stubAutogroup(t, true)
	master, worker, pids, out := shareMasterAndWorker(t)
	if got := autogroupNice(t, pids[master]); got != "0" {
		t.Errorf("master1's autogroup nice = %s, want 0", got)
	}
	if got := autogroupNice(t, pids[worker]); got != "5" {
		t.Errorf("worker1's autogroup nice = %s, want 5", got)
	}
	if !strings.Contains(out.String(), "worker1: host CPU share for 1 vCPU of the largest VM's 3 (autogroup nice 5)") || strings.Contains(out.String(), "master1") {
		t.Errorf("progress:\n%s", out.String())
	}

	// A VM started again (a hung boot) gets its share with the others' sizes in view.
	restarted := sessionStandIn(t)
	out.Reset()
	shareHost(newProgress(out), worker, restarted, largestCPUs([]*vm{master, worker}))
	if got := autogroupNice(t, restarted); got != "5" {
		t.Errorf("restarted worker1's autogroup nice = %s, want 5", got)
	}
}

func TestShareHostLeavesHostsWithoutAutogroup(t *testing.T) {
	stubAutogroup(t, false)
	_, worker, pids, out := shareMasterAndWorker(t)
	if got := autogroupNice(t, pids[worker]); got != "0" {
		t.Errorf("worker1's autogroup nice = %s, want 0 (threads compete one by one without autogroup)", got)
	}
	if out.Len() != 0 {
		t.Errorf("progress: %q", out.String())
	}
}

func TestSetShareNamesTheProcess(t *testing.T) {
	err := setShare(1<<22+7, 5) // above pid_max's largest value: no such process
	if err == nil || !strings.Contains(err.Error(), "pid 4194311") || !strings.Contains(err.Error(), "autogroup nice 5") {
		t.Errorf("setShare on a missing process: %v", err)
	}
}
