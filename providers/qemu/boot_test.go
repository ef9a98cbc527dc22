package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
)

// standIn starts a process that alivePID takes for v's qemu (its command line holds
// v.name) and records it in v's pidfile, as qemu's -pidfile does.
func standIn(t *testing.T, v *vm) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 300; : "+v.name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	go func() { _ = cmd.Wait() }() // reaped when stopped, so it is not left a zombie
	if err := os.WriteFile(v.pidfile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// sshdStandIn answers on port with an SSH banner, as the guest's sshd does.
func sshdStandIn(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
			c.Close()
		}
	}()
}

// hungVM is a VM whose guest printed the start of a kernel boot and then nothing.
func hungVM(t *testing.T) *vm {
	t.Helper()
	v := &vm{node: &plan.Node{Host: "node1"}, name: fmt.Sprintf("kisgen-stalltest-%d-node1", os.Getpid()), dir: t.TempDir(), sshPort: testtool.FreePort(t)}
	hung := "[    0.000000] Linux version 6.1.0-57-cloud-amd64\n[    6.521242] Loading compiled-in X.509 certificates\n"
	if err := os.WriteFile(v.console(), []byte(hung), 0o600); err != nil {
		t.Fatal(err)
	}
	standIn(t, v)
	return v
}

func TestHungBootIsStartedAgainOnce(t *testing.T) {
	v := hungVM(t)
	firstPID := alivePID(v.pidfile(), v.name)
	var out bytes.Buffer
	restarts := 0
	w := bootWatch{prog: newProgress(&out), stall: time.Second, restart: func(ctx context.Context, v *vm) (int, error) {
		restarts++
		if alivePID(v.pidfile(), v.name) != 0 {
			t.Error("restart called while the hung qemu still runs")
		}
		st, err := os.Stat(v.console())
		if err != nil {
			return 0, err
		}
		v.consoleFrom = st.Size() // as start does: the new boot appends to the log
		pid := standIn(t, v)
		f, err := os.OpenFile(v.console(), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if _, err := f.WriteString("[    0.000000] Linux version 6.1.0-57-cloud-amd64\nCloud-init v. 22.4.2 running\nnode1 login: "); err != nil {
			return 0, err
		}
		sshdStandIn(t, v.sshPort)
		return pid, nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitOne(ctx, v, w); err != nil {
		t.Fatalf("waitOne: %v\n%s", err, out.String())
	}
	if restarts != 1 {
		t.Errorf("restarted %d times, want 1", restarts)
	}
	if pid := alivePID(v.pidfile(), v.name); pid == 0 || pid == firstPID {
		t.Errorf("the VM's process after the restart is %d (the hung one was %d)", pid, firstPID)
	}
	got := out.String()
	for _, want := range []string{
		"node1: kernel booting",
		"console silent for",
		`its console ends with "[    6.521242] Loading compiled-in X.509 certificates"; stopping and starting it again (once)`,
		"qemu started again (pid",
		"node1: boot finished",
		"node1: sshd up on 127.0.0.1:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("progress lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "kernel booting") != 2 {
		t.Errorf("the second boot's milestones are not reported again:\n%s", got)
	}
}

func TestSecondStallFails(t *testing.T) {
	v := hungVM(t)
	restarts := 0
	var out bytes.Buffer
	w := bootWatch{prog: newProgress(&out), stall: time.Second, restart: func(ctx context.Context, v *vm) (int, error) {
		restarts++
		return standIn(t, v), nil // and hangs again: the console never grows
	}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := waitOne(ctx, v, w)
	if !errors.Is(err, ErrBootStalled) || !strings.Contains(err.Error(), "again after a restart") || !strings.Contains(err.Error(), "Loading compiled-in X.509") {
		t.Fatalf("waitOne = %v, want ErrBootStalled naming the restart and the console's end", err)
	}
	if restarts != 1 {
		t.Errorf("restarted %d times, want 1", restarts)
	}
}

// A VM this run did not start (kept) may be silent: it finished booting long ago.
func TestKeptVMIsNeverRestarted(t *testing.T) {
	v := hungVM(t)
	v.kept = true
	var out bytes.Buffer
	w := bootWatch{prog: newProgress(&out), stall: time.Second, restart: func(ctx context.Context, v *vm) (int, error) {
		t.Error("a kept VM was restarted")
		return 0, errors.New("not expected")
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitOne(ctx, v, w); !errors.Is(err, ErrBootTimeout) {
		t.Fatalf("waitOne = %v, want ErrBootTimeout", err)
	}
}

func TestCPUTicksReadsThisProcess(t *testing.T) {
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) { // spend some CPU time
	}
	ticks, ok := cpuTicks(os.Getpid())
	if !ok || ticks <= 0 {
		t.Fatalf("cpuTicks(self) = %d, %v", ticks, ok)
	}
	if _, ok := cpuTicks(1 << 30); ok {
		t.Error("cpuTicks of a missing process reports a value")
	}
	if got := qemuCPU(1 << 30); got != "qemu's CPU time unknown" {
		t.Errorf("qemuCPU(missing) = %q", got)
	}
}
