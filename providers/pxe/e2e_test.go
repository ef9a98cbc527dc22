//go:build e2e

package pxe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/ec2"
	"github.com/kisgen/kisgen/providers/qemu"
)

// TestNetworkBootRunsTheNodesUserData proves the bundle on a real machine with a blank
// disk: a qemu VM that boots from its network card first (the iPXE ROM Debian ships for
// qemu) and its disk second gets its address and, being new to the server, its install
// script (chosen by MAC): the kernel, kisgen's installer, its boot header and the root
// file system of the image `kisgen image build` makes (built here if missing, cached by
// content) as initrds. The installer writes the image and GRUB to the disk and reboots;
// the server, which handed the install, now answers the machine with its disk, GRUB boots
// the installed system, and its cloud-init fetches the user-data over HTTP as its NoCloud
// seed and runs it: the user-data writes a token and a report script whose line on the
// serial console the test waits for. Then the server goes away and the machine is reset:
// it boots from its disk alone.
//
// Two networks, chosen by KISGEN_E2E_PXE (default: dnsmasq as root, qemu otherwise):
//   - dnsmasq: a network namespace the test creates, with a bridge, the bundle's own
//     dnsmasq.conf for DHCP (the node's reservation) and the bundle served by the same
//     handler as `kisgen serve pxe`, which answers the user-data only to the node's
//     reserved address. Needs root (CAP_NET_ADMIN); touches nothing outside the namespace.
//   - qemu: qemu's user network, its built-in DHCP and TFTP (tftp=BUNDLE/tftp,
//     bootfile=boot.ipxe) and a guest forward to the bundle server on loopback.
//
// Run: go test -tags e2e -run TestNetworkBoot -v ./providers/pxe/
func TestNetworkBootRunsTheNodesUserData(t *testing.T) {
	token := randomHex(t)
	r := bootFromBundle(t, userData(token))
	if r.host != r.node.Host || r.token != token || !strings.Contains(r.addr, r.nodeIP+"/") {
		t.Errorf("report: host=%s token=%s addr=%s; want %s, %s, %s", r.host, r.token, r.addr, r.node.Host, token, r.nodeIP)
	}
	// The installed system's command line, from GRUB on the disk.
	if want := "ds=nocloud-net;s=" + NoCloudURL(r.httpURL, r.node.Host); !strings.Contains(r.cmdline, want) || !strings.Contains(r.cmdline, "root=PARTUUID=") {
		t.Errorf("kernel command line %q lacks %q and root=PARTUUID=", r.cmdline, want)
	}
	for _, want := range []string{
		"GET /ipxe/boot.ipxe 200", "GET /ipxe/" + HexHyp(r.node.MAC) + ".ipxe 200", "pxe: " + r.node.Host + " is new: it installs its image to its disk",
		"GET /assets/debian-12/vmlinuz 200", "GET /assets/debian-12/initrd.img 200", "GET /assets/install.cpio 200", "GET /assets/boot/" + r.node.Host + ".cpio 200",
		"GET /assets/debian-12/rootfs.cpio 200", "pxe: " + r.node.Host + " is known (installing",
		"GET /nocloud/" + r.node.Host + "/meta-data 200", "GET /nocloud/" + r.node.Host + "/user-data 200", "pxe: " + r.node.Host + " fetched its user-data",
		"pxe: " + r.node.Host + " installed: its first boot from its disk fetched its user-data",
	} {
		if r.mode == "qemu" && want == "GET /ipxe/boot.ipxe 200" {
			continue // qemu's TFTP hands out boot.ipxe
		}
		if !strings.Contains(r.serveLog, want) {
			t.Errorf("the bundle server did not see %q:\n%s", want, r.serveLog)
		}
	}
	if r.mode == "dnsmasq" && !strings.Contains(r.serveLog, " "+r.nodeIP+":") {
		t.Errorf("requests did not come from the node's reserved address %s:\n%s", r.nodeIP, r.serveLog)
	}
	if !strings.Contains(r.console, "kisgen-install: installed to /dev/vda") {
		t.Errorf("the console shows no install:\n%s", lastLines(r.console, 40))
	}
	t.Logf("bundle server log:\n%s", r.serveLog)

	// Later boots come from the disk: with the server gone, a reset boots the installed
	// system (iPXE finds no server and leaves the machine to its next boot device).
	r.stopServer()
	r.reset(t)
	again := r.waitConsole(t, regexp.MustCompile(`Command line: (.*root=PARTUUID=\S+.*)`))
	if strings.Contains(again[1], "boot=kisgen") {
		t.Errorf("the reset ran the installer again: %s", again[1])
	}
	r.waitConsole(t, regexp.MustCompile(`login:`))
}

// TestBoothookDropInAppliesToLaterModules proves, with the same cloud-init on a real
// machine, what the aws provider's s3 and ssm secrets modes rely on: a boothook that
// writes a cloud-config to ec2.CloudConfigDropIn has it applied by every module that
// runs after boothooks (write_files, runcmd), although the user-data itself holds no
// cloud-config. The stub's fetching part is tested against fakes in providers/ec2.
func TestBoothookDropInAppliesToLaterModules(t *testing.T) {
	token := randomHex(t)
	var script bytes.Buffer
	fmt.Fprintf(&script, "#cloud-boothook\n#!/bin/sh\n[ -e %[1]s ] && exit 0\nmkdir -p $(dirname %[1]s)\ncat > %[1]s.tmp <<'KISGEN_EOF'\n%[2]sKISGEN_EOF\nchmod 600 %[1]s.tmp && mv %[1]s.tmp %[1]s\n",
		ec2.CloudConfigDropIn, userData(token))
	r := bootFromBundle(t, script.Bytes())
	if r.host != r.node.Host || r.token != token {
		t.Errorf("report: host=%s token=%s; want %s, %s", r.host, r.token, r.node.Host, token)
	}
}

// bootReport is what a booted node said, and what the test saw of its boot.
type bootReport struct {
	mode, httpURL, nodeIP                         string
	node                                          *plan.Node
	host, token, addr, cmdline, serveLog, console string
	// consoleFile is the VM's serial console; from is where a wait starts reading it.
	consoleFile string
	from        int
	ctx         context.Context
	stopServer  func()
	monitor     string
}

// reset resets the VM through the qemu monitor.
func (r *bootReport) reset(t *testing.T) {
	t.Helper()
	b, _ := os.ReadFile(r.consoleFile)
	r.from = len(b)
	c, err := net.Dial("unix", r.monitor)
	if err != nil {
		t.Fatalf("qemu monitor: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("system_reset\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
}

// waitConsole waits for re on what the console printed since the last reset.
func (r *bootReport) waitConsole(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	for {
		b, _ := os.ReadFile(r.consoleFile)
		if len(b) >= r.from {
			if m := re.FindStringSubmatch(string(b[r.from:])); m != nil {
				return m
			}
		}
		select {
		case <-r.ctx.Done():
			t.Fatalf("no %q on the console after the reset:\n%s", re, lastLines(string(b), 40))
		case <-time.After(2 * time.Second):
		}
	}
}

// bootFromBundle builds a bundle whose first node has user-data ud, boots that node over
// the network and returns its report line (see userData).
func bootFromBundle(t *testing.T, ud []byte) bootReport {
	t.Helper()
	mode := os.Getenv("KISGEN_E2E_PXE")
	if mode == "" {
		mode = "qemu"
		if os.Geteuid() == 0 {
			mode = "dnsmasq"
		}
	}
	tools := []string{"qemu-system-x86_64", "qemu-img"}
	switch mode {
	case "dnsmasq":
		if os.Geteuid() != 0 {
			t.Fatal("KISGEN_E2E_PXE=dnsmasq needs root for the network namespace")
		}
		tools = append(tools, "ip", "dnsmasq")
	case "qemu":
		tools = append(tools, "socat")
	default:
		t.Fatalf("KISGEN_E2E_PXE=%q: use dnsmasq or qemu", mode)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (apt-get install qemu-system-x86 qemu-utils dnsmasq-base socat iproute2)", tool)
		}
	}
	const rom = "/usr/lib/ipxe/qemu/efi-virtio.rom"
	if _, err := os.Stat(rom); err != nil {
		t.Fatalf("%s is needed (apt-get install ipxe-qemu)", rom)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	t.Cleanup(cancel)

	t0 := time.Now()
	img, err := image.Build(ctx, image.Options{OS: "debian-12", Log: testWriter{t}})
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	t.Logf("image %s ready after %s", img.BuildID, time.Since(t0).Round(time.Second))

	// The network the node boots on.
	nw := netParams{httpHost: "10.77.0.1", httpPort: 8080, nodeIP: "10.77.0.11", prefix: "10.77.0"}
	if mode == "qemu" {
		nw = netParams{httpHost: "10.0.2.100", httpPort: 8080, nodeIP: "10.0.2.15", prefix: "10.0.2"}
	}
	dir := t.TempDir()
	p := writePlan(t, dir, nw)
	var machines []providers.Machine
	for _, n := range p.Nodes {
		machines = append(machines, providers.Machine{Node: n, UserData: ud, Format: plan.FormatCloudInit})
	}
	res, err := Build(p, machines, Options{
		Out: filepath.Join(dir, "bundle"), Images: map[string]string{"debian-12": img.Dir},
		Root: "/dev/vda", KernelArgs: "console=ttyS0", Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	node := p.Nodes[0]

	serveLog := &testtool.SyncBuffer{}
	installs := filepath.Join(dir, "installs")
	serveCtx, stopServer := context.WithCancel(ctx)
	t.Cleanup(stopServer)
	var prefix []string
	switch mode {
	case "dnsmasq":
		ns := fmt.Sprintf("kisgen-pxe-%d", os.Getpid())
		setupNetns(t, ns, nw)
		ln := listenInNetns(t, ns, fmt.Sprintf("%s:%d", nw.httpHost, nw.httpPort))
		go func() { _ = Serve(serveCtx, ln, res.Dir, ServeOptions{Log: serveLog, Installs: installs}) }()
		dnsmasqLog := filepath.Join(dir, "dnsmasq.log")
		startDnsmasq(t, ns, filepath.Join(res.Dir, "dnsmasq", "dnsmasq.conf"), dnsmasqLog)
		prefix = []string{"ip", "netns", "exec", ns}
		t.Cleanup(func() {
			b, _ := os.ReadFile(dnsmasqLog)
			if !regexp.MustCompile(`DHCPACK\(br0\) ` + regexp.QuoteMeta(nw.nodeIP) + ` ` + node.MAC + ` ` + node.Host).Match(b) {
				t.Errorf("dnsmasq did not hand %s its reservation %s", node.Host, nw.nodeIP)
			}
			if t.Failed() {
				t.Logf("dnsmasq log:\n%s", lastLines(string(b), 30))
			}
		})
	case "qemu":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			_ = Serve(serveCtx, ln, res.Dir, ServeOptions{AnySource: true, Log: serveLog, Installs: installs})
		}()
		nw.netdev = fmt.Sprintf("user,id=n0,restrict=on,tftp=%s,bootfile=boot.ipxe,guestfwd=tcp:%s:%d-cmd:socat STDIO TCP:127.0.0.1:%d",
			filepath.Join(res.Dir, "tftp"), nw.httpHost, nw.httpPort, ln.Addr().(*net.TCPAddr).Port)
	}

	// The machine: a NIC with the node's MAC and iPXE ROM as the first boot device, and a
	// blank 4 GiB disk (the plan's disk_gb) as the second.
	vm := filepath.Join(dir, "vm")
	if err := os.MkdirAll(vm, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(vm, "disk.qcow2")
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", disk, "4G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	monitor := filepath.Join(vm, "monitor.sock")
	accel, err := qemu.ChooseAccel(ctx, "qemu-system-x86_64", "auto", img.Kernel)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accelerator: %s (%s)", accel.Name, accel.Reason)
	netdev := nw.netdev
	if netdev == "" {
		netdev = "tap,id=n0,ifname=tap0,script=no,downscript=no"
	}
	console := filepath.Join(vm, "console.log")
	// 1536 MiB: the installer's initramfs holds the compressed root file system.
	args := append(prefix, "qemu-system-x86_64", "-name", "kisgen-pxe-e2e", "-M", "q35", "-smp", "1", "-m", "1536",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "file:"+console, "-monitor", "unix:"+monitor+",server,nowait")
	args = append(args, accel.Args(1536)...)
	args = append(args,
		"-drive", "file="+disk+",if=none,id=d0,format=qcow2,cache=unsafe", "-device", "virtio-blk-pci,drive=d0,bootindex=2",
		"-netdev", netdev,
		"-device", "virtio-net-pci,disable-legacy=on,netdev=n0,mac="+node.MAC+",bootindex=1,romfile="+rom,
		"-device", "virtio-rng-pci")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var qemuOut testtool.SyncBuffer
	cmd.Stdout, cmd.Stderr = &qemuOut, &qemuOut
	t1 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	// cloud-init's report on the serial console.
	re := regexp.MustCompile(`KISGEN-PXE-E2E host=(\S+) token=(\S+) addr=(\S+) cmdline=(.*)`)
	var m []string
	for m == nil {
		select {
		case <-ctx.Done():
			b, _ := os.ReadFile(console)
			t.Fatalf("no report from cloud-init after %s\nqemu: %s\nconsole:\n%s\nhttp:\n%s", time.Since(t1).Round(time.Second), qemuOut.String(), lastLines(string(b), 40), serveLog.String())
		case err := <-exited:
			exited <- err
			t.Fatalf("qemu exited: %v\n%s", err, qemuOut.String())
		case <-time.After(2 * time.Second):
		}
		b, _ := os.ReadFile(console)
		m = re.FindStringSubmatch(string(b))
	}
	t.Logf("cloud-init ran the user-data %s after qemu started", time.Since(t1).Round(time.Second))
	con, _ := os.ReadFile(console)
	return bootReport{mode: mode, httpURL: res.Manifest.HTTPURL, nodeIP: nw.nodeIP, node: node,
		host: m[1], token: m[2], addr: m[3], cmdline: strings.TrimSpace(m[4]), serveLog: serveLog.String(), console: string(con),
		consoleFile: console, ctx: ctx, stopServer: stopServer, monitor: monitor}
}

type netParams struct {
	httpHost string
	httpPort int
	nodeIP   string
	prefix   string
	netdev   string
}

func writePlan(t *testing.T, dir string, n netParams) *plan.Plan {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kismaticuser.key"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: pxe-e2e
  ssh: {user: kismaticuser, ssh_key: kismaticuser.key}
provider:
  name: pxe
  pxe:
    http_url: http://%[1]s:%[2]d
    interface: br0
    gateway: %[3]s.1
etcd:
  expected_count: 1
  machine: {disk_gb: 4}
  nodes:
  - {host: etcd1, ip: %[4]s, mac: "52:54:00:4b:00:11"}
master:
  expected_count: 1
  nodes:
  - {host: master1, ip: %[3]s.21, mac: "52:54:00:4b:00:21"}
worker:
  expected_count: 1
  nodes:
  - {host: worker1, ip: %[3]s.31, mac: "52:54:00:4b:00:31"}
`, n.httpHost, n.httpPort, n.prefix, n.nodeIP)
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	p, rep, err := plan.Load(path)
	if err != nil || p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v %v", err, rep)
	}
	return p
}

// userData writes a token and reports, on the serial console, what cloud-init set up.
func userData(token string) []byte {
	return []byte(`#cloud-config
write_files:
- path: /etc/kisgen-e2e/token
  permissions: '0600'
  content: ` + token + `
- path: /usr/local/sbin/kisgen-e2e-report
  permissions: '0755'
  content: |
    #!/bin/sh
    addr=$(ip -4 -o addr show scope global | awk '{print $4}' | paste -sd, -)
    echo "KISGEN-PXE-E2E host=$(hostname) token=$(cat /etc/kisgen-e2e/token) addr=$addr cmdline=$(cat /proc/cmdline)" > /dev/ttyS0
runcmd:
- [/usr/local/sbin/kisgen-e2e-report]
`)
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// setupNetns makes a network namespace with a bridge at the HTTP server's address and a
// tap for the VM; it is deleted (and everything in it) when the test ends.
func setupNetns(t *testing.T, ns string, n netParams) {
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	x := func(args ...string) { sh(t, append([]string{"ip", "netns", "exec", ns}, args...)...) }
	x("ip", "link", "set", "lo", "up")
	x("ip", "link", "add", "br0", "type", "bridge")
	x("ip", "addr", "add", n.httpHost+"/24", "dev", "br0")
	x("ip", "link", "set", "br0", "up")
	x("ip", "tuntap", "add", "tap0", "mode", "tap")
	x("ip", "link", "set", "tap0", "master", "br0", "up")
}

// listenInNetns opens a listener inside the namespace: a locked thread enters it, makes
// the socket and ends with its goroutine; the socket stays in the namespace.
func listenInNetns(t *testing.T, ns, addr string) net.Listener {
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		ln, err := net.Listen("tcp", addr)
		ch <- result{ln, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatalf("listen in %s: %v", ns, r.err)
	}
	t.Cleanup(func() { r.ln.Close() })
	return r.ln
}

func startDnsmasq(t *testing.T, ns, conf, logFile string) {
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--user=root",
		"--pid-file="+logFile+".pid", "--conf-file="+conf)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	time.Sleep(500 * time.Millisecond)
	if b, _ := os.ReadFile(logFile); bytes.Contains(b, []byte("FAILED")) || bytes.Contains(b, []byte("failed")) {
		t.Fatalf("dnsmasq:\n%s", b)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		w.t.Log(sc.Text())
	}
	return len(p), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
