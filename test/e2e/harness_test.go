//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/qemu"
)

// e2eRun is one end-to-end cluster run: its work directory under .cache/e2e (kept for
// inspection), its plan, and, once booted, its VMs' SSH addresses. Every cluster test
// goes through the same steps with kisgen's own commands: image build, mirror build and
// serve, validate, render, provision qemu, the nodes' status files, kisgen verify.
type e2eRun struct {
	t         *testing.T
	ph        *phases
	name      string
	start     time.Time
	work      string
	logFile   string
	planFile  string
	mirrorDir string
	imageDir  string
	signer    ssh.Signer
	// Set by boot.
	p    *plan.Plan
	addr map[string]string
}

// newRun takes the work directory of name (one run per name at a time: a second run
// would remove the first one's VM directory and reuse its ports), empties it and writes
// the plan's SSH key.
func newRun(t *testing.T, name string) *e2eRun {
	r := &e2eRun{t: t, ph: &phases{t: t}, name: name, start: time.Now()}
	root := repoRoot()
	r.work = filepath.Join(root, ".cache", "e2e", name)
	if err := os.MkdirAll(filepath.Dir(r.work), 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(r.work+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("another e2e run of %s is in progress (%s is locked): %v", name, r.work+".lock", err)
	}
	if err := os.RemoveAll(r.work); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.work, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.logFile = filepath.Join(r.work, "logs", "kisgen.log")
	r.planFile = filepath.Join(r.work, "kismatic-cluster.yaml")
	r.mirrorDir = filepath.Join(r.work, "mirror")
	r.imageDir = filepath.Join(userCache(t), cachedir.ImagesDir, "debian-12")
	t.Logf("work directory (kept for inspection): %s", r.work)
	t0 := time.Now()
	kisgen(t)
	r.ph.add("build kisgen", time.Since(t0))
	r.signer = writeKey(t, r.work)
	return r
}

// boot builds the node image and the mirror (mirrorArgs are more `mirror build` flags),
// serves the mirror, validates and renders the plan, boots the VMs, waits for every
// node's status file to say done and for `kisgen verify --wait` to pass. The VMs are
// destroyed when the test ends, also when it is interrupted; their consoles are kept in
// logs/.
func (r *e2eRun) boot(p *plan.Plan, mirrorPort int, mirrorArgs ...string) {
	t := r.t
	r.p = p
	t0 := time.Now()
	r.kisgen(commandWait, "image", "build", "--os", "debian-12", "--cache", userCache(t), "--out", r.imageDir)
	r.ph.add("image build", time.Since(t0))
	t0 = time.Now()
	r.kisgen(commandWait, append([]string{"mirror", "build", "-f", r.planFile, "--out", r.mirrorDir, "--cache", userCache(t)}, mirrorArgs...)...)
	r.ph.add("mirror build", time.Since(t0))
	stopMirror := serveMirror(t, r.work, r.mirrorDir, mirrorPort)
	t.Cleanup(stopMirror)
	t0 = time.Now()
	r.kisgen(commandWait, "validate", "-f", r.planFile)
	r.kisgen(commandWait, "render", "-f", r.planFile)
	r.ph.add("render", time.Since(t0))

	// Never leave VMs running: keep their consoles, then destroy them, also when the
	// test is interrupted (go test does not run cleanups on SIGINT).
	var destroyOnce sync.Once
	destroy := func() {
		destroyOnce.Do(func() {
			collectConsoles(t, p, r.work)
			if err := runErr(t, r.work, r.logFile, 5*time.Minute, "provision", "qemu", "-f", r.planFile, "--destroy", "--yes"); err != nil {
				t.Errorf("destroy: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		// KISGEN_E2E_KEEP_VMS=1 keeps a failed run's VMs for inspection over SSH.
		if t.Failed() && os.Getenv("KISGEN_E2E_KEEP_VMS") == "1" {
			t.Logf("VMs kept (KISGEN_E2E_KEEP_VMS=1): ssh -i %s -p PORT %s@127.0.0.1; remove them with: (cd %s && %s provision qemu -f %s --destroy)",
				filepath.Join(r.work, "kismaticuser.key"), p.SSH.User, r.work, kisgen(t), r.planFile)
			return
		}
		destroy()
	})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	t.Cleanup(func() { signal.Stop(sigs); close(sigs) })
	go func() {
		if _, ok := <-sigs; ok {
			fmt.Fprintln(os.Stderr, "e2e: interrupted: destroying the VMs")
			destroy()
			stopMirror()
			os.Exit(2)
		}
	}()

	tBoot := time.Now()
	r.addr = provision(t, r.ph, r.work, r.logFile, r.planFile, len(p.Nodes))
	// Each node's own status file first (a cheap `cat` per node, so the emulated VMs spend
	// their cycles installing), failing early on a failed phase.
	t0 = time.Now()
	if err := waitInstalled(t, p, r.addr, r.signer, verifyWait); err != nil {
		dumpNodes(t, p, r.addr, r.signer)
		t.Fatal(err)
	}
	r.ph.add("install (status done)", time.Since(t0))
	r.ph.add("boot to installed", time.Since(tBoot))
	// kisgen verify is the judge: every check of every node.
	t0 = time.Now()
	err := runErr(t, r.work, r.logFile, verifyWait+5*time.Minute, "verify", "-f", r.planFile, "--wait", "20m", "--interval", "60s",
		// emulated VMs on shared cores answer slowly: python's cloud-init alone takes seconds
		"--dial-timeout", "60s", "--command-timeout", "3m", "--concurrency", "4")
	r.ph.add("verify --wait", time.Since(t0))
	if err != nil {
		dumpNodes(t, p, r.addr, r.signer)
		t.Fatal(err)
	}
	r.ph.add("boot to verified", time.Since(tBoot))
}

// kisgen runs a kisgen command in the work directory, failing the test on an error.
func (r *e2eRun) kisgen(timeout time.Duration, args ...string) {
	r.t.Helper()
	run(r.t, r.work, r.logFile, timeout, args...)
}

// step times one of the test's own checks.
func (r *e2eRun) step(name string, f func()) {
	t0 := time.Now()
	f()
	r.ph.add(name, time.Since(t0))
}

// finish logs the phases and appends them to .cache/e2e/timings.txt.
func (r *e2eRun) finish() {
	r.ph.add("total", time.Since(r.start))
	r.logMemory("at the end")
	var sum bytes.Buffer
	r.ph.summary(&sum, fmt.Sprintf("e2e %s: %d nodes, accel %s", r.name, len(r.p.Nodes), accelOf(r.work)))
	r.t.Log("\n" + sum.String())
	if f, err := os.OpenFile(filepath.Join(repoRoot(), ".cache", "e2e", "timings.txt"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		f.Write(sum.Bytes())
		f.Close()
	}
}

// logMemory logs each node's memory as what it costs: the guest's use (MemTotal less
// MemAvailable, from its /proc/meminfo over SSH) and its qemu process's resident set now
// and at its peak (VmRSS, VmHWM: the host's side, guest RAM touched plus TCG's
// translation cache). Nodes that do not answer are named and skipped.
func (r *e2eRun) logMemory(when string) {
	t := r.t
	var hostTotal int
	for _, n := range r.p.Nodes {
		guest := "no answer"
		if out, err := sshRun(r.addr[n.Host], r.p.SSH.User, r.signer, "cat /proc/meminfo"); err == nil {
			kb := meminfo(out)
			guest = fmt.Sprintf("%d of %d MiB used", (kb["MemTotal"]-kb["MemAvailable"])/1024, kb["MemTotal"]/1024)
		}
		proc := "not running"
		if pidfile, err := r.qemuPIDFile(n.Host); err != nil {
			proc = err.Error()
		} else if pid, err := os.ReadFile(pidfile); err == nil {
			if st, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "status")); err == nil {
				kb := meminfo(string(st))
				hostTotal += kb["VmRSS"] / 1024
				proc = fmt.Sprintf("qemu RSS %d MiB (peak %d)", kb["VmRSS"]/1024, kb["VmHWM"]/1024)
			}
		}
		t.Logf("memory %s, %s: guest %s; %s", when, n.Host, guest, proc)
	}
	t.Logf("memory %s: the VMs hold %d MiB of the host's memory", when, hostTotal)
}

// qemuPIDFile is where the qemu provider keeps host's VM process id in this run.
func (r *e2eRun) qemuPIDFile(host string) (string, error) {
	dir, err := qemu.VMDir(r.p, host)
	return filepath.Join(dir, qemu.PIDFileName), err
}

// meminfo reads "Name: 123 kB" lines (/proc/meminfo, /proc/PID/status) as kB by name.
func meminfo(text string) map[string]int {
	out := map[string]int{}
	for _, l := range strings.Split(text, "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if f := strings.Fields(rest); ok && len(f) == 2 && f[1] == "kB" {
			if v, err := strconv.Atoi(f[0]); err == nil {
				out[name] = v
			}
		}
	}
	return out
}
