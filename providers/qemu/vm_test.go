package qemu

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/mirror"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
)

// TestMain lets the test binary stand in for kisgen as the provider's helper process.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == HelperArg {
		os.Exit(HelperMain(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// needVMs skips unless real VMs were asked for (they take minutes under TCG).
func needVMs(t *testing.T) {
	t.Helper()
	if os.Getenv("KISGEN_VM_TESTS") == "" {
		t.Skip("boots real qemu VMs: set KISGEN_VM_TESTS=1 (make e2e does)")
	}
}

// testImage returns the debian-12 image, building it (about 2 minutes) when the
// per-user cache has none.
func testImage(t *testing.T) *image.Image {
	t.Helper()
	img, err := image.Build(context.Background(), image.Options{OS: "debian-12", Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// sshRun runs cmd on addr as user and returns its combined output.
func sshRun(addr, user string, key ssh.Signer, cmd string) (string, error) {
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 20 * time.Second}) // test VMs: host keys made at first boot
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	return string(out), err
}

// TestProvisionBootsVMsOnPrivateNetwork boots two real VMs from the baked image with
// hand-written user-data and proves what the provider promises: cloud-init ran the
// seed's user-data and network-config (hostname, planned address by MAC), the VMs reach
// each other on the private segment, the guest reaches the loopback mirror through the
// forward and nothing else on the host, the image's bake settings are in place, a second
// Provision keeps the running VMs, and Destroy leaves nothing behind.
func TestProvisionBootsVMsOnPrivateNetwork(t *testing.T) {
	needVMs(t)
	img := testImage(t)
	dir := t.TempDir()

	mirrorDir := filepath.Join(dir, "mirror")
	if err := os.MkdirAll(mirrorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sums := "0000000000000000000000000000000000000000000000000000000000000000  hello\n"
	if err := os.WriteFile(filepath.Join(mirrorDir, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
		t.Fatal(err)
	}
	var access bytes.Buffer
	var accessMu sync.Mutex
	srv, err := mirror.Start(mirrorDir, "127.0.0.1:0", lockedWriter{&accessMu, &access})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	port := srv.Addr[strings.LastIndex(srv.Addr, ":")+1:]

	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))

	planYAML := fmt.Sprintf(`apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: vmtest
  networking: {pod_cidr_block: 172.16.0.0/16, service_cidr_block: 172.17.0.0/16}
mirror:
  url: http://10.0.2.100:%s
provider:
  name: qemu
  qemu:
    image: %s
    ssh_base_port: 2390
etcd:
  expected_count: 1
  machine: {memory_mb: 768, cpus: 2}
  nodes: [{host: node1, ip: 10.10.0.11}]
master:
  expected_count: 1
  nodes: [{host: node1, ip: 10.10.0.11}]
worker:
  expected_count: 1
  machine: {memory_mb: 768}
  nodes: [{host: node2, ip: 10.10.0.12}]
`, port, img.Dir)
	planFile := filepath.Join(dir, "kismatic-cluster.yaml")
	p, rep := plan.Parse(planFile, []byte(planYAML), plan.Options{})
	if rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	userData := fmt.Sprintf(`#cloud-config
users:
  - name: tester
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    shell: /bin/bash
    ssh_authorized_keys: [%q]
runcmd:
  - [sh, -c, "curl -fsS -m 20 --retry 5 http://10.0.2.100:%s/SHA256SUMS > /run/mirror-check"]
`, pub, port)
	var machines []providers.Machine
	for _, n := range p.Nodes {
		machines = append(machines, providers.Machine{Node: n, UserData: []byte(userData), Format: plan.FormatCloudInit})
	}
	stateDir := filepath.Join(dir, "generated")
	var progress bytes.Buffer
	opts := providers.Options{StateDir: stateDir, Progress: lockedWriter{&sync.Mutex{}, &progress}}
	// The watch for a hung boot is proven on a real guest: node2's qemu is frozen
	// (SIGSTOP) once its kernel prints, as a guest hung under TCG looks from here (the
	// process alive, the console silent), and the provider must stop and start it again.
	q := &Provider{BootTimeout: 15 * time.Minute, StallTimeout: 90 * time.Second}
	frozen := make(chan int, 1)
	go freezeWhenBooting(t.Context(), p, "node2", frozen)
	t.Cleanup(func() {
		if err := q.Destroy(context.Background(), p, providers.Options{StateDir: stateDir}); err != nil {
			t.Errorf("cleanup destroy: %v", err)
		}
	})

	t0 := time.Now()
	insts, err := providers.Provision(context.Background(), q, p, machines, opts) // as `kisgen provision qemu` does
	t.Logf("provision output:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("both VMs answered SSH after %s", time.Since(t0).Round(time.Second))
	select {
	case pid := <-frozen:
		if pid == 0 {
			t.Fatal("node2's qemu could not be frozen")
		}
		if !strings.Contains(progress.String(), "node2: console silent for") || !strings.Contains(progress.String(), "node2: qemu started again") {
			t.Errorf("node2's qemu (pid %d) was frozen, but the provider did not report starting it again", pid)
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(b, []byte("node2")) {
			t.Errorf("node2's frozen qemu (pid %d) still runs", pid)
		}
	default:
		t.Error("node2's qemu was never frozen")
	}
	if len(insts) != 2 || insts[0].SSHAddr != "127.0.0.1:2390" || insts[1].SSHAddr != "127.0.0.1:2391" || !insts[0].Created {
		t.Fatalf("instances = %+v", insts)
	}
	recorded, err := LoadInstances(stateDir)
	if err != nil || len(recorded) != 2 || recorded[1].PrivateIP != "10.10.0.12" || recorded[0].State != "running" {
		t.Fatalf("recorded instances = %+v, %v", recorded, err)
	}
	// verify reads the shared record, which names the same port forwards.
	rec, err := instances.LoadFor(stateDir, p.Name, "qemu")
	if err != nil || len(rec.Instances) != 2 || rec.Instances[0].SSHAddress != "127.0.0.1:2390" || rec.Instances[1].SSHAddress != "127.0.0.1:2391" {
		t.Fatalf("instances record = %+v, %v", rec, err)
	}

	run := func(addr, cmd string) string {
		t.Helper()
		out, err := sshRun(addr, "tester", signer, cmd)
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", addr, cmd, err, out)
		}
		return strings.TrimSpace(out)
	}
	if got := run("127.0.0.1:2390", "cloud-init status --wait >/dev/null; hostname"); got != "node1" {
		t.Errorf("hostname = %q, want node1", got)
	}
	// Two vCPUs under TCG fail the kernel's TSC synchronisation test; without tsc=reliable
	// the node runs on the emulated HPET, ten times slower to read (Accel.KernelArgs).
	if got := run("127.0.0.1:2390", "cat /sys/devices/system/clocksource/clocksource0/current_clocksource"); got != "tsc" && got != "kvm-clock" {
		t.Errorf("node1's clocksource = %q, want tsc (TCG) or kvm-clock (KVM)", got)
	}
	if got := run("127.0.0.1:2391", "cloud-init status --wait >/dev/null; ip -4 -o addr show | grep -c ' 10.10.0.12/24 '"); got != "1" {
		t.Errorf("node2 lacks its planned address 10.10.0.12/24 (%s)", got)
	}
	if got := run("127.0.0.1:2390", "ping -c 3 -W 5 10.10.0.12 >/dev/null && echo ok"); got != "ok" {
		t.Errorf("node1 cannot ping node2 on the private segment: %s", got)
	}
	if got := run("127.0.0.1:2390", "cat /run/mirror-check"); got+"\n" != sums {
		t.Errorf("node1 fetched %q from the mirror, want %q", got, sums)
	}
	accessMu.Lock()
	logged := access.String()
	accessMu.Unlock()
	if !strings.Contains(logged, "GET /SHA256SUMS 200") {
		t.Errorf("mirror access log has no GET from the VM:\n%s", logged)
	}
	// restrict=on: the host itself (10.0.2.2) is not reachable, only the forward is
	if out, err := sshRun("127.0.0.1:2390", "tester", signer, "curl -sS -m 5 http://10.0.2.2:"+port+"/SHA256SUMS"); err == nil {
		t.Errorf("the guest reached the host beyond the forward: %s", out)
	}
	// The base image holds no container runtime (Debian's containerd 1.6 and runc 1.1 are
	// past their support): nodes install the plan's pinned releases, so its manifest lists
	// no component.
	bake := run("127.0.0.1:2391", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/bridge/bridge-nf-call-iptables; "+
		"test -e /opt/cni/bin/bridge || test -e /usr/bin/containerd || test -e /usr/sbin/runc || echo no-runtime; "+
		"systemctl is-enabled apt-daily.timer || true; grep -c '\"name\"' /etc/kisgen/image-manifest.json || true")
	if want := "1\n1\nno-runtime\nmasked\n0"; bake != want {
		t.Errorf("bake settings on node2:\n%s\nwant:\n%s", bake, want)
	}

	// Provisioning again keeps the running VMs.
	progress.Reset()
	insts, err = q.Provision(context.Background(), p, machines, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		if in.Created {
			t.Errorf("%s recreated on the second run:\n%s", in.Host, progress.String())
		}
	}

	if err := q.Destroy(context.Background(), p, providers.Options{StateDir: stateDir}); err != nil {
		t.Fatal(err)
	}
	for _, in := range recorded {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", in.PID)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", in.PID)); bytes.Contains(b, []byte(in.ID)) {
				t.Errorf("%s still runs after destroy", in.ID)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".cache", "qemu", "vmtest")); !os.IsNotExist(err) {
		t.Errorf("VM directory left after destroy: %v", err)
	}
	if _, err := os.Stat(statePath(stateDir)); !os.IsNotExist(err) {
		t.Errorf("state file left after destroy: %v", err)
	}
}

// freezeWhenBooting stops host's qemu with SIGSTOP once its console shows the kernel
// booting, and sends its pid on frozen (or 0 when it could not).
func freezeWhenBooting(ctx context.Context, p *plan.Plan, host string, frozen chan<- int) {
	dir, err := VMDir(p, host)
	if err != nil {
		frozen <- 0
		return
	}
	for ctx.Err() == nil {
		con, _ := os.ReadFile(filepath.Join(dir, ConsoleFileName))
		pid := alivePID(filepath.Join(dir, PIDFileName), host)
		if pid > 0 && bytes.Contains(con, []byte("Linux version")) {
			if syscall.Kill(pid, syscall.SIGSTOP) != nil {
				pid = 0
			}
			frozen <- pid
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
