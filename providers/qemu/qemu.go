package qemu

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

func init() {
	providers.Register("qemu", func() providers.Provider { return &Provider{} })
}

var _ providers.Provider = (*Provider)(nil)

// Default machine sizes per role, in MiB and CPUs, when the group's machine gives none.
var (
	defaultMemoryMB = map[plan.Role]int{plan.RoleEtcd: 1024, plan.RoleMaster: 2048, plan.RoleWorker: 1536, plan.RoleIngress: 1536, plan.RoleStorage: 1536}
	defaultCPUs     = map[plan.Role]int{plan.RoleEtcd: 1, plan.RoleMaster: 2, plan.RoleWorker: 1, plan.RoleIngress: 1, plan.RoleStorage: 1}
)

const (
	defaultDiskGB = 10
	// userNet is qemu's user network; the guest is 10.0.2.15, the host 10.0.2.2, DNS 10.0.2.3.
	userNet = "10.0.2.0/24"
)

// Provider boots local qemu VMs. The zero value is ready to use.
type Provider struct {
	// BootTimeout bounds the wait for every VM's sshd; 0 means 5 minutes under KVM and
	// 20 minutes under TCG.
	BootTimeout time.Duration
	// StallTimeout is how long a VM's console may stay silent before its boot finished
	// ("login:") until the guest is taken for hung and restarted, once per Provision;
	// 0 means 5 minutes under TCG and 2 under KVM. A boot prints a line every few
	// seconds; a guest kernel that stops early under TCG stays silent until BootTimeout.
	StallTimeout time.Duration
	// Accel, when set, skips accelerator detection (tests).
	Accel *Accel
	// HostMemoryMB is this machine's memory, for Validate (default: /proc/meminfo).
	HostMemoryMB func() int
}

// Name is "qemu".
func (*Provider) Name() string { return "qemu" }

// vm is one node's machine.
type vm struct {
	node       *plan.Node
	name       string
	dir        string
	sshPort    int
	apiPort    int // masters: the loopback port forwarded to the API server
	mgmtMAC    string
	clusterMAC string
	cpus       int
	memoryMB   int
	diskGB     int
	img        *image.Image
	userData   []byte
	// kept is set when the VM was already running.
	kept bool
	// consoleFrom is the console log's size when this run started the VM: a restarted
	// VM appends to it, and only what follows is this boot.
	consoleFrom int64
}

// Files in a VM's directory (VMDir) that tools and tests read.
const (
	// PIDFileName holds the VM's qemu process id (qemu's -pidfile).
	PIDFileName = "qemu.pid"
	// CmdlineFileName holds the qemu command the VM was started with, one argument a line.
	CmdlineFileName = "qemu.cmdline"
	// ConsoleFileName is the VM's serial console, appended to by every boot.
	ConsoleFileName = "console.log"
)

func (v *vm) pidfile() string { return filepath.Join(v.dir, PIDFileName) }
func (v *vm) console() string { return filepath.Join(v.dir, ConsoleFileName) }

// vmName is the qemu process name of host's VM (-name … process=), by which a VM whose
// pidfile is gone is still found among running processes.
func vmName(p *plan.Plan, host string) string { return "kisgen-" + p.Name + "-" + host }

// VMDir is where host's VM of the plan lives: its disk, seed, console log, PIDFileName
// and CmdlineFileName.
func VMDir(p *plan.Plan, host string) (string, error) {
	dir, err := clusterDir(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, host), nil
}

type tools struct{ qemu, qemuImg, genisoimage string }

func findTools() (tools, error) {
	var t tools
	var missing []string
	for _, x := range []struct {
		dst       *string
		name, pkg string
	}{{&t.qemu, "qemu-system-x86_64", "qemu-system-x86"}, {&t.qemuImg, "qemu-img", "qemu-utils"}, {&t.genisoimage, "genisoimage", "genisoimage"}} {
		p, err := exec.LookPath(x.name)
		if err != nil {
			missing = append(missing, x.name+" (apt-get install "+x.pkg+")")
			continue
		}
		*x.dst = p
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: %s", ErrMissingTool, strings.Join(missing, ", "))
	}
	return t, nil
}

// clusterDir is where the cluster's VMs live: provider.qemu.dir (relative to the plan)
// and the cluster name.
func clusterDir(p *plan.Plan) (string, error) {
	d := p.Provider.QEMU.Dir
	if d == "" {
		d = plan.DefaultQEMUDir
	}
	if !filepath.IsAbs(d) {
		d = filepath.Join(filepath.Dir(p.File), d)
	}
	return filepath.Abs(filepath.Join(d, p.Name))
}

// findImage resolves an image name: a path (absolute, or relative to the plan), or a
// name: first the plan's own images (.cache/images beside the plan, where the baked
// images `kisgen packer` templates make land), then the per-user cache (cache, or the
// default), where `kisgen image build` publishes.
func findImage(p *plan.Plan, name, cache string) (*image.Image, error) {
	planDir := filepath.Dir(p.File)
	var cands []string
	if filepath.IsAbs(name) {
		cands = []string{name}
	} else if strings.Contains(name, "/") {
		cands = []string{filepath.Join(planDir, name)}
	} else {
		cands = []string{filepath.Join(planDir, image.PlanCacheDir, name)}
		if images, err := cachedir.Images(cache); err == nil {
			cands = append(cands, filepath.Join(images, name))
		}
	}
	for _, c := range cands {
		if img, err := image.Find(c); err == nil {
			return img, nil
		}
	}
	return nil, fmt.Errorf("%w: image %q is not in %s: run `kisgen image build --os %s`", ErrNoImage, name, strings.Join(uniq(cands), " or "), name)
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if a, err := filepath.Abs(s); err == nil {
			s = a
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// machineSize is the node's CPUs, memory and disk. CPUs and disk: the largest that any
// of the node's groups sets, or its role's default where a group sets none. Memory: when
// no group of the node sets it, the sum of its roles' defaults (a node that holds etcd
// and a master runs both: each needs its memory, and they share the CPUs); when one does,
// that is a size for the whole machine, and the largest of the groups' settings and the
// defaults of the groups without one is taken.
func machineSize(p *plan.Plan, n *plan.Node) (cpus, memMB, diskGB int) {
	given := p.Machine(n)
	var memDefaults, memLargest int
	for _, r := range n.Roles {
		var m plan.Machine
		if g := p.Groups[r]; g != nil {
			m = g.Machine
		}
		cpus = max(cpus, cmp.Or(m.CPUs, defaultCPUs[r]))
		memDefaults += defaultMemoryMB[r]
		memLargest = max(memLargest, cmp.Or(m.MemoryMB, defaultMemoryMB[r]))
	}
	memMB = memDefaults
	if given.MemoryMB > 0 {
		memMB = memLargest
	}
	return max(cpus, 1), max(memMB, 512), cmp.Or(given.DiskGB, defaultDiskGB)
}

// mirrorForward works out how the VMs reach the plan's mirror: a mirror URL whose host
// is an address in qemu's user network (e.g. http://10.0.2.100:8080) is forwarded to the
// same port on 127.0.0.1. warn is set when nodes will not be able to download.
func mirrorForward(p *plan.Plan) (guest netip.AddrPort, hostPort int, warn string, err error) {
	if p.Mirror.URL == "" {
		if !p.PackageInstallation {
			return guest, 0, "", nil // a baked image: nodes download nothing
		}
		return guest, 0, "the plan has no mirror.url: nodes would download from the official sites, which these VMs cannot reach (their network is restricted); " +
			"run `kisgen mirror build` and `kisgen mirror serve --listen 127.0.0.1:8080` and set mirror.url: http://10.0.2.100:8080", nil
	}
	u, err := url.Parse(p.Mirror.URL)
	if err != nil {
		return guest, 0, "", fmt.Errorf("%w: mirror.url %q: %v", ErrMirror, p.Mirror.URL, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	pn, _ := strconv.Atoi(port)
	a, perr := netip.ParseAddr(u.Hostname())
	net := netip.MustParsePrefix(userNet)
	if perr != nil || !net.Contains(a) || a == netip.MustParseAddr("10.0.2.2") || a == netip.MustParseAddr("10.0.2.3") || a == netip.MustParseAddr("10.0.2.15") || pn == 0 {
		return guest, 0, "", fmt.Errorf("%w: mirror.url %s: the qemu VMs reach only addresses of their user network forwarded to this machine; "+
			"serve the mirror on 127.0.0.1:PORT (`kisgen mirror serve --listen 127.0.0.1:PORT`) and set mirror.url: http://10.0.2.100:PORT", ErrMirror, p.Mirror.URL)
	}
	return netip.AddrPortFrom(a, uint16(pn)), pn, "", nil
}

// Provision boots every machine that is not running yet and waits until each one's sshd
// answers. Running VMs (found by pidfile and name) are kept.
func (q *Provider) Provision(ctx context.Context, p *plan.Plan, machines []providers.Machine, opts providers.Options) ([]providers.Instance, error) {
	out := opts.Progress
	if out == nil {
		out = io.Discard
	}
	for _, m := range machines {
		if m.Format != plan.FormatCloudInit {
			return nil, fmt.Errorf("%w: %s has %s user-data; the qemu provider boots kisgen's Debian image, which reads cloud-init (render it with `kisgen render --format cloud-init`)",
				ErrUnsupportedFormat, m.Node.Host, m.Format)
		}
	}
	t, err := findTools()
	if err != nil {
		return nil, err
	}
	dir, err := clusterDir(p)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	base := p.Provider.QEMU.SSHBasePort
	if base == 0 {
		base = plan.DefaultQEMUSSHBasePort
	}
	var vms []*vm
	for _, m := range machines {
		n := m.Node
		imgName := p.Provider.QEMU.Image
		if n.Group != nil && n.Group.Machine.Image != "" {
			imgName = n.Group.Machine.Image
		}
		if imgName == "" {
			imgName = plan.DefaultQEMUImage
		}
		img, err := findImage(p, imgName, opts.CacheDir)
		if err != nil {
			return nil, err
		}
		v := &vm{node: n, name: vmName(p, n.Host), dir: filepath.Join(dir, n.Host), sshPort: base + n.Index,
			mgmtMAC: macFor(p.Name, n.Host, "mgmt"), clusterMAC: macFor(p.Name, n.Host, "cluster"), img: img, userData: m.UserData}
		if n.MAC != "" {
			v.clusterMAC = strings.ToLower(n.MAC)
		}
		if n.Has(plan.RoleMaster) {
			v.apiPort = APIPort(base, n.Index)
		}
		v.cpus, v.memoryMB, v.diskGB = machineSize(p, n)
		if n.Group != nil && n.Group.OS != "" && img.OS != "" && n.Group.OS != img.OS {
			fmt.Fprintf(out, "qemu: warning: %s: group os is %s but the VM boots image %s\n", n.Host, n.Group.OS, img.OS)
		}
		vms = append(vms, v)
	}
	if len(vms) == 0 {
		return nil, nil
	}

	accel := q.Accel
	if accel == nil {
		a, err := ChooseAccel(ctx, t.qemu, p.Provider.QEMU.Accel, vms[0].img.Kernel)
		if err != nil {
			return nil, err
		}
		accel = &a
	}
	if accel.Name == "kvm" {
		fmt.Fprintf(out, "qemu: KVM: %s\n", accel.Reason)
	} else {
		fmt.Fprintf(out, "qemu: WARNING: KVM is not usable, VMs run under TCG emulation, many times slower (a boot takes minutes): %s\n", accel.Reason)
	}

	guest, hostPort, warn, err := mirrorForward(p)
	if err != nil {
		return nil, err
	}
	if warn != "" {
		fmt.Fprintf(out, "qemu: WARNING: %s\n", warn)
	} else if hostPort == 0 {
		fmt.Fprintln(out, "qemu: no mirror: the plan disables downloads, the image must hold every binary")
	} else if err := probeMirror(ctx, hostPort); err != nil {
		fmt.Fprintf(out, "qemu: WARNING: the mirror (%s in the VMs, 127.0.0.1:%d here) does not answer: %v; nodes retry their downloads, start it with `kisgen mirror serve --listen 127.0.0.1:%d`\n",
			p.Mirror.URL, hostPort, err, hostPort)
	}
	warnMemory(out, vms, *accel)
	if lb, ok := lbAddress(p); ok {
		fmt.Fprintf(out, "qemu: WARNING: no load balancer among local VMs: %s (the plan's load_balancer) is given to %s as a second address, so the API has no failover (set master.virtual_ip: %s for keepalived and HAProxy on the masters)\n",
			lb, p.NodesWith(plan.RoleMaster)[0].Host, lb)
	}

	sock := filepath.Join(dir, "switch.sock")
	if len(sock) > 100 {
		h := sha256.Sum256([]byte(dir))
		sock = filepath.Join(os.TempDir(), "kisgen-"+hex.EncodeToString(h[:6])+".sock")
	}
	swPID, started, err := startSwitch(sock, filepath.Join(dir, "switch.pid"), filepath.Join(dir, "switch.log"))
	if err != nil {
		return nil, fmt.Errorf("start the VMs' network switch: %w", err)
	}
	if started {
		fmt.Fprintf(out, "qemu: cluster network switch started (pid %d, %s)\n", swPID, sock)
	}

	st := loadState(opts.StateDir)
	st.Cluster, st.Dir, st.Accel, st.Switch = p.Name, dir, accel.Name, stateSwitch{Socket: sock, PID: swPID}
	prog := newProgress(out)
	var errs []error
	largest := largestCPUs(vms)
	for _, v := range vms {
		if pid := alivePID(v.pidfile(), v.name); pid > 0 {
			v.kept = true
			prog.say(v.node.Host, "already running (pid %d), kept", pid)
			st.put(v, pid, false)
			shareHost(prog, v, pid, largest)
			continue
		}
		pid, err := q.start(ctx, t, v, p, *accel, sock, guest, hostPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.node.Host, err))
			continue
		}
		prog.say(v.node.Host, "qemu started (pid %d, %d cpu, %d MiB, ssh 127.0.0.1:%d, %s)", pid, v.cpus, v.memoryMB, v.sshPort, v.node.InternalIP)
		st.put(v, pid, true)
		shareHost(prog, v, pid, largest)
	}
	if err := st.save(opts.StateDir); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return st.instances(), errors.Join(errs...)
	}

	timeout, stall := 20*time.Minute, 5*time.Minute
	if accel.Name == "kvm" {
		timeout, stall = 5*time.Minute, 2*time.Minute
	}
	if q.BootTimeout != 0 {
		timeout = q.BootTimeout
	}
	if q.StallTimeout != 0 {
		stall = q.StallTimeout
	}
	watch := bootWatch{prog: prog, stall: stall, restart: func(ctx context.Context, v *vm) (int, error) {
		pid, err := q.start(ctx, t, v, p, *accel, sock, guest, hostPort)
		if err == nil {
			shareHost(prog, v, pid, largest)
			st.put(v, pid, true)
			err = st.save(opts.StateDir)
		}
		return pid, err
	}}
	waitErr := waitBoot(ctx, vms, watch, timeout, st)
	if err := st.save(opts.StateDir); err != nil && waitErr == nil {
		waitErr = err
	}
	return st.instances(), waitErr
}

func (q *Provider) start(ctx context.Context, t tools, v *vm, p *plan.Plan, accel Accel, sock string, guest netip.AddrPort, hostPort int) (int, error) {
	if err := os.MkdirAll(v.dir, 0o700); err != nil {
		return 0, err
	}
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", v.sshPort)); err != nil {
		return 0, fmt.Errorf("SSH port 127.0.0.1:%d is taken (%v): set provider.qemu.ssh_base_port to a free range", v.sshPort, err)
	} else {
		ln.Close()
	}
	disk := filepath.Join(v.dir, "disk.qcow2")
	if _, err := os.Stat(disk); errors.Is(err, os.ErrNotExist) {
		size := fmt.Sprintf("%dG", max(v.diskGB, image.DefaultSizeGB))
		if out, err := exec.CommandContext(ctx, t.qemuImg, "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", v.img.RootFS, disk+".tmp", size).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("qemu-img create: %v: %s", err, out)
		}
		if err := os.Rename(disk+".tmp", disk); err != nil {
			return 0, err
		}
	}
	meta, err := metaData(v.name, v.node.Host)
	if err != nil {
		return 0, err
	}
	netcfg, err := networkConfig(p, v.node, v.mgmtMAC, v.clusterMAC)
	if err != nil {
		return 0, err
	}
	if err := writeSeed(ctx, t.genisoimage, v.dir, v.userData, meta, netcfg); err != nil {
		return 0, err
	}
	if st, err := os.Stat(v.console()); err == nil {
		v.consoleFrom = st.Size()
	}
	user := fmt.Sprintf("user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22", v.sshPort)
	if v.apiPort > 0 {
		// The API server from this machine (kisgen kubeconfig, drain, status): its
		// certificate names 127.0.0.1.
		user += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:6443", v.apiPort)
	}
	if hostPort > 0 {
		helper, err := HelperCommand()
		if err != nil {
			return 0, err
		}
		var cmd []string
		for _, a := range append(helper, "connect", fmt.Sprintf("127.0.0.1:%d", hostPort)) {
			cmd = append(cmd, shellQuote(a))
		}
		user += fmt.Sprintf(",guestfwd=tcp:%s-cmd:%s", guest, strings.ReplaceAll(strings.Join(cmd, " "), ",", ",,"))
	}
	args := []string{"-name", v.name + ",process=" + v.name}
	args = append(args, accel.Args(v.memoryMB)...)
	args = append(args,
		"-smp", strconv.Itoa(v.cpus), "-m", strconv.Itoa(v.memoryMB), "-M", "q35",
		"-nodefaults", "-no-user-config", "-display", "none",
		"-chardev", "file,id=console,path="+optPath(v.console())+",append=on", "-serial", "chardev:console",
		"-kernel", v.img.Kernel, "-initrd", v.img.Initrd, "-append", strings.Join(append([]string{"root=/dev/vda", "rw", "console=ttyS0"}, accel.KernelArgs()...), " "),
		"-drive", "file="+optPath(disk)+",if=virtio,format=qcow2,cache=unsafe,discard=unmap",
		"-drive", "file="+optPath(filepath.Join(v.dir, "seed.iso"))+",if=virtio,format=raw,readonly=on",
		"-netdev", user, "-device", "virtio-net-pci,netdev=mgmt,mac="+v.mgmtMAC,
		"-netdev", "stream,id=cluster,server=off,addr.type=unix,addr.path="+optPath(sock), "-device", "virtio-net-pci,netdev=cluster,mac="+v.clusterMAC,
		"-device", "virtio-rng-pci",
		"-pidfile", v.pidfile(), "-daemonize")
	if err := os.WriteFile(filepath.Join(v.dir, CmdlineFileName), []byte(strings.Join(append([]string{t.qemu}, args...), "\n")+"\n"), 0o600); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, t.qemu, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.Dir = v.dir
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("qemu: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	pid := alivePID(v.pidfile(), v.name)
	if pid == 0 {
		return 0, fmt.Errorf("%w: qemu exited right after starting: %s", ErrVMDied, strings.TrimSpace(stderr.String()))
	}
	return pid, nil
}

// optPath escapes a path for a qemu -option value (a comma is written twice).
func optPath(p string) string { return strings.ReplaceAll(p, ",", ",,") }

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func probeMirror(ctx context.Context, port int) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, fmt.Sprintf("http://127.0.0.1:%d/SHA256SUMS", port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /SHA256SUMS: %s", resp.Status)
	}
	return nil
}

// warnMemory warns when the VMs need more memory than this machine has available.
func warnMemory(out io.Writer, vms []*vm, accel Accel) {
	avail := memAvailableMB()
	if avail == 0 {
		return
	}
	need := 0
	for _, v := range vms {
		need += v.memoryMB
		if accel.Name == "tcg" {
			need += tbSize(v.memoryMB) + 100 // translation cache and qemu itself
		}
	}
	if need > avail {
		fmt.Fprintf(out, "qemu: WARNING: the VMs may need %d MiB but only %d MiB are available\n", need, avail)
	}
}

func memAvailableMB() int { return meminfoMB("MemAvailable") }

// alivePID returns the pid in pidfile when that process runs and its command line
// contains marker (guarding against a recycled pid), else 0.
func alivePID(pidfile, marker string) int {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(marker)) {
		return 0
	}
	// A zombie still has a cmdline until it is reaped; it is not running.
	if state, ok := procState(pid); ok && state == 'Z' {
		return 0
	}
	return pid
}

// procState is the state letter of process pid (R, S, Z…) from /proc/PID/stat; false
// when the process is gone.
func procState(pid int) (byte, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name in parentheses may hold spaces and parentheses: the state
	// follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return 0, false
	}
	return stat[i+2], true
}

// stop ends a process found by alivePID: SIGTERM, then SIGKILL after grace, and waits
// until it has exited (exited), not only until alivePID stops finding it.
func stop(pidfile, marker string, grace time.Duration) bool {
	pid := alivePID(pidfile, marker)
	if pid == 0 {
		return false
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if exited(pid) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 50 && !exited(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// exited says whether process pid is gone, or a zombie with no thread left. alivePID
// stops finding a dying qemu as soon as its memory is released (its command line reads
// empty), but its sockets close only after that, when its last thread exits: a VM
// started again at once found its SSH port still bound (seen in the VM test, a qemu
// frozen with SIGSTOP and killed).
func exited(pid int) bool {
	state, ok := procState(pid)
	if !ok {
		return true
	}
	if state != 'Z' {
		return false
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return err != nil || len(tasks) <= 1
}

// stopByName stops the processes whose command line holds marker as a whole argument
// or as the first element of a comma-separated one ("-name NAME,process=NAME").
func stopByName(marker string, grace time.Duration) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	found := false
	for _, c := range procs {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		args := bytes.Split(b, []byte{0})
		// only qemu and kisgen's own helper, never e.g. a grep for the name
		if !bytes.Contains(args[0], []byte("qemu")) && !bytes.Contains(b, []byte(HelperArg)) {
			continue
		}
		match := false
		for _, arg := range args {
			first, _, _ := bytes.Cut(arg, []byte(","))
			if string(arg) == marker || string(first) == marker {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		dir := filepath.Dir(c)
		pidfile := filepath.Join(os.TempDir(), fmt.Sprintf(".kisgen-stop-%s", filepath.Base(dir)))
		if err := os.WriteFile(pidfile, []byte(filepath.Base(dir)), 0o600); err != nil {
			continue
		}
		if stop(pidfile, marker, grace) {
			found = true
		}
		os.Remove(pidfile)
	}
	return found
}

// APIPort is the loopback port that forwards to a master's API server: 100 above its
// SSH port, so both follow provider.qemu.ssh_base_port and the node's place in the plan.
func APIPort(sshBase, index int) int { return sshBase + 100 + index }

// Remove stops the VMs of hosts and deletes their disks, seeds and logs, and drops them
// from the record: the cluster's network switch and its other VMs stay.
func (q *Provider) Remove(ctx context.Context, p *plan.Plan, hosts []string, opts providers.Options) error {
	out, dir, st, err := existingCluster(p, opts)
	if err != nil {
		return err
	}
	for _, host := range hosts {
		if host == "" || filepath.Base(host) != host || host == "." || host == ".." {
			return fmt.Errorf("qemu: remove %q: not a host name", host)
		}
		if stopVM(p, dir, host) {
			fmt.Fprintf(out, "qemu: %s: stopped\n", host)
		}
		if err := os.RemoveAll(filepath.Join(dir, host)); err != nil {
			return fmt.Errorf("qemu: %s: %w", host, err)
		}
		st.drop(host)
		fmt.Fprintf(out, "qemu: %s: VM removed\n", host)
	}
	return st.save(opts.StateDir)
}

var _ providers.Remover = (*Provider)(nil)

// existingCluster is where Remove and Destroy report, the cluster's directory and its
// record.
func existingCluster(p *plan.Plan, opts providers.Options) (io.Writer, string, *state, error) {
	out := opts.Progress
	if out == nil {
		out = io.Discard
	}
	dir, err := clusterDir(p)
	if err != nil {
		return nil, "", nil, err
	}
	return out, dir, loadState(opts.StateDir), nil
}

// stopVM stops a host's VM, found by its pidfile, or by its qemu name among the running
// processes when the pidfile is gone (a removed directory must not leave a VM running).
func stopVM(p *plan.Plan, dir, host string) bool {
	name := vmName(p, host)
	return stop(filepath.Join(dir, host, PIDFileName), name, 10*time.Second) || stopByName(name, 10*time.Second)
}

// Destroy stops the cluster's VMs and its switch and removes their disks, seeds and
// logs, and the state record.
func (q *Provider) Destroy(ctx context.Context, p *plan.Plan, opts providers.Options) error {
	out, dir, st, err := existingCluster(p, opts)
	if err != nil {
		return err
	}
	// VMs are found by pidfile, and by their qemu name among running processes when the
	// pidfile is gone (a removed directory must not leave VMs running).
	stopped := 0
	for _, host := range clusterHosts(p, dir, st) {
		if stopVM(p, dir, host) {
			fmt.Fprintf(out, "qemu: %s: stopped\n", host)
			stopped++
		}
	}
	if stop(filepath.Join(dir, "switch.pid"), HelperArg, 5*time.Second) || stopByName(filepath.Join(dir, "switch.sock"), 5*time.Second) {
		fmt.Fprintf(out, "qemu: cluster network switch stopped\n")
	}
	if st.Switch.Socket != "" && !strings.HasPrefix(st.Switch.Socket, dir) {
		_ = os.Remove(st.Switch.Socket)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if opts.StateDir != "" {
		if err := os.Remove(statePath(opts.StateDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	fmt.Fprintf(out, "qemu: %d VMs stopped, %s removed\n", stopped, dir)
	return nil
}

// clusterHosts are the hosts that may have a VM of the cluster, sorted: the plan's nodes,
// those the record lists and those with a directory in dir.
func clusterHosts(p *plan.Plan, dir string, st *state) []string {
	hosts := map[string]bool{}
	for _, n := range p.Nodes {
		hosts[n.Host] = true
	}
	for _, in := range st.Instances {
		hosts[in.Host] = true
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				hosts[e.Name()] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(hosts))
}

// progress prints timestamped lines, one per event.
type progress struct {
	mu  sync.Mutex
	out io.Writer
	t0  time.Time
}

func newProgress(out io.Writer) *progress { return &progress{out: out, t0: time.Now()} }

func (p *progress) say(host, format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "[%4ds] %s: %s\n", int(time.Since(p.t0).Seconds()), host, fmt.Sprintf(format, a...))
}

// Console milestones shown while a VM boots, in the order they happen.
var milestones = []struct{ marker, say string }{
	{"Linux version", "kernel booting"},
	{"Cloud-init v.", "cloud-init running"},
	{"login:", "boot finished"},
}

// bootWatch is how waitOne watches a booting VM.
type bootWatch struct {
	prog *progress
	// stall is how long the console may stay silent before the boot finished.
	stall time.Duration
	// restart starts a VM again after its hung qemu was stopped.
	restart func(ctx context.Context, v *vm) (pid int, err error)
}

// waitBoot waits until every VM's sshd sends its banner, printing console milestones.
func waitBoot(ctx context.Context, vms []*vm, w bootWatch, timeout time.Duration, st *state) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(vms))
	for i, v := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = waitOne(ctx, v, w)
			if errs[i] == nil {
				st.setState(v.node.Host, "running")
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitOne waits for v's sshd. A VM this run started whose console stays silent for
// w.stall before its boot finished is stopped and started again, once: under TCG a
// guest kernel now and then stops early in its boot (seen in CI: no console line for 15
// minutes after "Loading compiled-in X.509 certificates" at 6 s), and a second boot of
// the same disk goes through. A second stall fails at once with ErrBootStalled.
func waitOne(ctx context.Context, v *vm, w bootWatch) error {
	seen := 0
	if v.kept {
		seen = len(milestones)
	}
	t0 := time.Now()
	consoleLen, grewAt := int64(-1), time.Now()
	var longest time.Duration // the console's longest silence before the boot finished
	restarted := false
	for {
		if con, err := os.ReadFile(v.console()); err == nil && int64(len(con)) >= v.consoleFrom {
			con = con[v.consoleFrom:]
			for seen < len(milestones) && bytes.Contains(con, []byte(milestones[seen].marker)) {
				w.prog.say(v.node.Host, "%s", milestones[seen].say)
				seen++
			}
			if int64(len(con)) != consoleLen {
				if seen < len(milestones) && consoleLen >= 0 {
					longest = max(longest, time.Since(grewAt))
				}
				consoleLen, grewAt = int64(len(con)), time.Now()
			}
		}
		if sshBanner(fmt.Sprintf("127.0.0.1:%d", v.sshPort)) {
			quiet := ""
			if !v.kept {
				quiet = fmt.Sprintf(" (console silent for %s at most)", longest.Round(time.Second))
			}
			w.prog.say(v.node.Host, "sshd up on 127.0.0.1:%d after %s%s", v.sshPort, time.Since(t0).Round(time.Second), quiet)
			return nil
		}
		pid := alivePID(v.pidfile(), v.name)
		if pid == 0 {
			return fmt.Errorf("%w: %s: qemu exited; console (%s) ends with:\n%s", ErrVMDied, v.node.Host, v.console(), consoleTail(v.console()))
		}
		if silent := time.Since(grewAt); w.stall > 0 && seen < len(milestones) && silent >= w.stall {
			why := fmt.Sprintf("console silent for %s before the boot finished (%s)", silent.Round(time.Second), qemuCPU(pid))
			if restarted {
				why += ", again after a restart"
			}
			if restarted || w.restart == nil {
				return fmt.Errorf("%w: %s: %s; console (%s) ends with:\n%s", ErrBootStalled, v.node.Host, why, v.console(), consoleTail(v.console()))
			}
			w.prog.say(v.node.Host, "%s: the guest hung; its console ends with %q; stopping and starting it again (once)", why, lastLine(v.console()))
			stop(v.pidfile(), v.name, 5*time.Second)
			pid, err := w.restart(ctx, v)
			if err != nil {
				return fmt.Errorf("%s: start again after a hung boot: %w", v.node.Host, err)
			}
			w.prog.say(v.node.Host, "qemu started again (pid %d)", pid)
			restarted, seen, consoleLen, grewAt = true, 0, -1, time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: no sshd on 127.0.0.1:%d after %s; console (%s) ends with:\n%s", ErrBootTimeout, v.node.Host, v.sshPort,
				time.Since(t0).Round(time.Second), v.console(), consoleTail(v.console()))
		case <-time.After(2 * time.Second):
		}
	}
}

// qemuCPU says how busy qemu process pid is over a second: a guest whose vCPUs spin
// keeps it near its vCPU count, one waiting for an interrupt that never comes near zero.
func qemuCPU(pid int) string {
	before, ok := cpuTicks(pid)
	t0 := time.Now()
	time.Sleep(time.Second)
	after, ok2 := cpuTicks(pid)
	if !ok || !ok2 {
		return "qemu's CPU time unknown"
	}
	// Linux reports user and system time in USER_HZ, 100 a second on every architecture.
	used := float64(after-before) / 100 / time.Since(t0).Seconds()
	return fmt.Sprintf("qemu busy %.0f%% of a core", used*100)
}

// cpuTicks is the user plus system time of process pid, in clock ticks.
func cpuTicks(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The fields after the command name, which may hold spaces, start with the state
	// (field 3); utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return utime + stime, true
}

// lastLine is the console's last non-empty line.
func lastLine(path string) string {
	tail := strings.Split(consoleTail(path), "\n")
	return strings.TrimSpace(tail[len(tail)-1])
}

// sshBanner reports whether addr answers with an SSH banner. qemu's port forward accepts
// connections before the guest's sshd runs, so a connection alone proves nothing.
func sshBanner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4)
	_, err = io.ReadFull(c, b)
	return err == nil && string(b) == "SSH-"
}

func consoleTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no console output)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}
