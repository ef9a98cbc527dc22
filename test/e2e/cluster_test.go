//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/qemu"
	"github.com/kisgen/kisgen/roles"
)

// Bounds of each phase. Under TCG on two shared cores a 3-VM cluster boots in 3–6
// minutes and installs in 10–20 more; the bounds are generous but finite.
var (
	verifyWait  = envDuration("KISGEN_E2E_VERIFY_WAIT", 45*time.Minute)
	podWait     = envDuration("KISGEN_E2E_POD_WAIT", 15*time.Minute)
	commandWait = 40 * time.Minute // mirror build (cold: ~20 min), image build, render, provision
)

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil {
		return d
	}
	return def
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// TestClusterInstallsItself is the proof of kisgen: for each example plan in
// KISGEN_E2E_PLANS (default minimal), real VMs boot the rendered user-data, install
// etcd and Kubernetes from the loopback mirror with no SSH step, pass `kisgen verify`,
// and run a pod from an image archive the nodes imported at boot.
func TestClusterInstallsItself(t *testing.T) {
	plans := strings.Split(os.Getenv("KISGEN_E2E_PLANS"), ",")
	if plans[0] == "" {
		plans = []string{"minimal"}
	}
	base := 2400
	if b, err := strconv.Atoi(os.Getenv("KISGEN_E2E_SSH_BASE")); err == nil {
		base = b
	}
	for i, name := range plans {
		t.Run(name, func(t *testing.T) { runCluster(t, name, base+100*i) })
	}
}

// phases records how long each step took, for the closing summary.
type phases struct {
	mu   sync.Mutex
	list []phase
	t    *testing.T
}

type phase struct {
	name string
	d    time.Duration
}

func (p *phases) add(name string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, phase{name, d})
	p.t.Logf("PHASE %-28s %s", name, d.Round(time.Second))
}

func (p *phases) summary(w io.Writer, title string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(w, "%s %s\n", time.Now().UTC().Format(time.RFC3339), title)
	for _, ph := range p.list {
		fmt.Fprintf(w, "  %-28s %8s\n", ph.name, ph.d.Round(time.Second))
	}
}

var (
	buildOnce sync.Once
	kisgenBin string
	buildErr  error
)

// userCache is the per-user cache the commands share with every checkout (images and
// binaries are built once per machine, not once per clone).
func userCache(t *testing.T) string {
	t.Helper()
	dir, err := cachedir.Dir("")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// kisgen builds the kisgen binary once per test run.
func kisgen(t *testing.T) string {
	buildOnce.Do(func() {
		// KISGEN_E2E_BIN runs a kisgen built elsewhere (e.g. with -overlay to try a fix).
		if kisgenBin = os.Getenv("KISGEN_E2E_BIN"); kisgenBin != "" {
			return
		}
		kisgenBin = filepath.Join(repoRoot(), ".cache", "e2e", "kisgen")
		cmd := exec.Command("go", "build", "-o", kisgenBin, ".")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return kisgenBin
}

// run runs kisgen in dir, streaming its output to the test log and to logFile.
func run(t *testing.T, dir, logFile string, timeout time.Duration, args ...string) {
	t.Helper()
	if err := runErr(t, dir, logFile, timeout, args...); err != nil {
		t.Fatal(err)
	}
}

func runErr(t *testing.T, dir, logFile string, timeout time.Duration, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "$ kisgen %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, kisgen(t), args...)
	cmd.Dir = dir
	var tail bytes.Buffer
	w := io.MultiWriter(f, &tail, testLog{t})
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		out := tail.String()
		if len(out) > 6000 {
			out = out[len(out)-6000:]
		}
		return fmt.Errorf("kisgen %s: %v (log: %s)\n%s", strings.Join(args, " "), err, logFile, out)
	}
	return nil
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		l.t.Log(line)
	}
	return len(b), nil
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writePlan turns an example plan into the e2e plan: the bridge CNI (Calico's images
// cannot be pulled here), no add-ons that need images from a registry, the loopback
// mirror with pinned sums and the pause image archive, and the provider's ports.
func writePlan(t *testing.T, example, dst string, mirrorPort, sshBase int, imageDir string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "examples", example+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	// The pause version is the plan's (default when the example sets none).
	pause := plan.DefaultPauseVersion
	if cl, ok := doc["cluster"].(map[string]any); ok {
		if v, ok := cl["versions"].(map[string]any); ok && v["pause"] != nil {
			pause = fmt.Sprint(v["pause"])
		}
	}
	// A cluster name of its own: VM names (kisgen-CLUSTER-HOST) never collide with a
	// user's cluster made from the same example.
	if cl, ok := doc["cluster"].(map[string]any); ok {
		cl["name"] = "e2e-" + example
	}
	doc["add_ons"] = map[string]any{
		"cni":            map[string]any{"provider": "bridge"},
		"dns":            map[string]any{"disable": true},
		"metrics_server": map[string]any{"disable": true},
		"dashboard":      map[string]any{"disable": true},
	}
	doc["mirror"] = map[string]any{
		"url":            fmt.Sprintf("http://10.0.2.100:%d", mirrorPort),
		"checksums":      "mirror/SHA256SUMS",
		"image_archives": []string{"images/pause-" + pause + ".tar"},
	}
	accel := os.Getenv("KISGEN_E2E_ACCEL")
	if accel == "" {
		accel = "auto"
	}
	doc["provider"] = map[string]any{"name": "qemu", "qemu": map[string]any{"image": imageDir, "ssh_base_port": sshBase, "accel": accel}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeKey writes the plan's SSH key pair (kismaticuser.key and .pub) into dir.
func writeKey(t *testing.T, dir string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "kisgen e2e")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kismaticuser.key"), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kismaticuser.key.pub"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return signer
}

func runCluster(t *testing.T, example string, sshBase int) {
	r := newRun(t, example)
	mirrorPort := freePort(t)
	writePlan(t, example, r.planFile, mirrorPort, sshBase, r.imageDir)
	p := loadPlan(t, r.planFile)
	r.boot(p, mirrorPort, "--pause-image")
	// The test's own checks, independent of verify's code.
	r.step("pod from image archive", func() { checkCluster(t, p, r.addr, r.signer) })
	r.finish()
}

func accelOf(work string) string {
	b, err := os.ReadFile(filepath.Join(work, plan.DefaultStateDirName, "providers", "qemu.json"))
	if err != nil {
		return "?"
	}
	var st struct {
		Accel string `json:"accel"`
	}
	_ = json.Unmarshal(b, &st)
	return st.Accel
}

// serveMirror runs `kisgen mirror serve` on loopback and returns a function that stops it.
func serveMirror(t *testing.T, work, dir string, port int) func() {
	t.Helper()
	logf, err := os.Create(filepath.Join(work, "logs", "mirror-access.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kisgen(t), "mirror", "serve", "--dir", dir, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mirror serve did not listen")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(40 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logf.Close()
		})
	}
}

func collectConsoles(t *testing.T, p *plan.Plan, work string) {
	for _, n := range p.Nodes {
		src := filepath.Join(work, plan.DefaultQEMUDir, p.Name, n.Host, qemu.ConsoleFileName)
		if b, err := os.ReadFile(src); err == nil {
			_ = os.WriteFile(filepath.Join(work, "logs", n.Host+".console.log"), b, 0o644)
		}
	}
}

// sshRun runs cmd on addr. Host keys are not checked here: kisgen verify pins them.
func sshRun(addr, user string, key ssh.Signer, cmd string) (string, error) {
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second})
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

// waitInstalled polls each node's status file until every one says done, one says
// failed, or wait passes.
func waitInstalled(t *testing.T, p *plan.Plan, addr map[string]string, key ssh.Signer, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	last := map[string]string{}
	for {
		done := 0
		for _, n := range p.Nodes {
			out, err := sshRun(addr[n.Host], p.SSH.User, key, "sudo cat "+roles.StatusPath)
			var st roles.Status
			if err != nil || json.Unmarshal([]byte(out), &st) != nil {
				continue // not up yet, or the file is not written yet
			}
			if st.Phase == roles.PhaseFailed {
				return fmt.Errorf("%s: install failed at %q: %s", n.Host, st.Step, st.Error)
			}
			if st.Phase == roles.PhaseDone {
				done++
			}
			if now := st.Phase + ": " + st.Step; now != last[n.Host] {
				t.Logf("%s: %s", n.Host, now)
				last[n.Host] = now
			}
		}
		if done == len(p.Nodes) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d nodes installed after %s: %v", done, len(p.Nodes), wait, last)
		}
		time.Sleep(30 * time.Second)
	}
}

// dumpNodes logs each node's status file and the journal of kisgen's units, to say
// why verify failed.
func dumpNodes(t *testing.T, p *plan.Plan, addr map[string]string, key ssh.Signer) {
	for _, n := range p.Nodes {
		out, err := sshRun(addr[n.Host], p.SSH.User, key, "sudo cat "+roles.StatusPath+"; echo; sudo systemctl --failed --no-legend; "+
			"sudo journalctl -b --no-pager -n 60 -u 'kisgen*' -u kubelet -u etcd -u kube-apiserver -u containerd 2>&1 | tail -n 60")
		t.Logf("---- %s (%s): %v\n%s", n.Host, addr[n.Host], err, out)
	}
	// The cluster's own view: every pod, and the last lines of each kube-system container
	// that is not ready (CoreDNS, Calico), which tell why.
	for _, m := range p.NodesWith(plan.RoleMaster) {
		kubectl := "sudo " + roles.BinDir + "/kubectl --kubeconfig " + roles.AdminKubeconfig + " --request-timeout=60s "
		out, err := sshRun(addr[m.Host], p.SSH.User, key, kubectl+"get pods -A -o wide; "+
			"for pod in $("+kubectl+"-n kube-system get pods -o jsonpath='{range .items[*]}{.metadata.name}{\" \"}{.status.containerStatuses[*].ready}{\"\\n\"}{end}' | awk '/false/{print $1}'); do "+
			"echo \"== $pod\"; "+kubectl+"-n kube-system logs --all-containers --tail=25 $pod 2>&1 | cut -c1-400; "+kubectl+"-n kube-system logs --all-containers --previous --tail=15 $pod 2>&1 | cut -c1-400; done")
		t.Logf("---- cluster (through %s): %v\n%s", m.Host, err, out)
		break
	}
}

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Taints []struct {
				Key, Value, Effect string
			} `json:"taints"`
		} `json:"spec"`
		Status struct {
			Conditions []struct {
				Type, Status string
			} `json:"conditions"`
		} `json:"status"`
	} `json:"items"`
}

// checkCluster checks over SSH what the pass criteria name, independently of verify:
// every Kubernetes node registered and Ready with its planned labels and taints, the
// status file done everywhere, and a pod of the imported pause image Running on a worker.
func checkCluster(t *testing.T, p *plan.Plan, addr map[string]string, key ssh.Signer) {
	master := p.NodesWith(plan.RoleMaster)[0]
	kubectl := "sudo " + roles.BinDir + "/kubectl --kubeconfig " + roles.AdminKubeconfig + " "
	onMaster := func(cmd string) (string, error) { return sshRun(addr[master.Host], p.SSH.User, key, cmd) }

	for _, n := range p.Nodes {
		out, err := sshRun(addr[n.Host], p.SSH.User, key, "sudo cat "+roles.StatusPath)
		var st roles.Status
		if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Phase != roles.PhaseDone {
			t.Errorf("%s: status file: %v %s", n.Host, err, out)
		}
	}

	out, err := onMaster(kubectl + "get --raw /readyz")
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Errorf("apiserver /readyz through the admin kubeconfig: %v %s", err, out)
	}
	out, err = onMaster(kubectl + "get nodes -o json")
	if err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	}
	var nodes nodeList
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	}
	registered := map[string]int{}
	for i, it := range nodes.Items {
		registered[it.Metadata.Name] = i
	}
	for _, n := range p.Nodes {
		i, ok := registered[n.Host]
		if !n.IsKubernetesNode() {
			if ok {
				t.Errorf("%s is etcd only but registered as a Kubernetes node", n.Host)
			}
			continue
		}
		if !ok {
			t.Errorf("%s is not registered (nodes: %v)", n.Host, keys(registered))
			continue
		}
		it := nodes.Items[i]
		for k, v := range n.Labels {
			if it.Metadata.Labels[k] != v {
				t.Errorf("%s: label %s=%q, planned %q", n.Host, k, it.Metadata.Labels[k], v)
			}
		}
		for _, want := range n.Taints {
			found := false
			for _, got := range it.Spec.Taints {
				found = found || (got.Key == want.Key && got.Value == want.Value && got.Effect == want.Effect)
			}
			if !found {
				t.Errorf("%s: taint %s missing (has %+v)", n.Host, want, it.Spec.Taints)
			}
		}
		ready := false
		for _, c := range it.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if !ready {
			t.Errorf("%s is not Ready: %+v", n.Host, it.Status.Conditions)
		}
	}

	// A pod from the image archive the nodes imported at boot, on an untainted worker.
	var worker *plan.Node
	for _, n := range p.NodesWith(plan.RoleWorker) {
		if len(n.Taints) == 0 {
			worker = n
			break
		}
	}
	if worker == nil {
		t.Fatal("no untainted worker for the pod")
	}
	ref := "registry.k8s.io/pause:" + p.Versions.Pause
	if out, err := sshRun(addr[worker.Host], p.SSH.User, key, "sudo "+roles.BinDir+"/ctr -n k8s.io images ls -q"); err != nil || !strings.Contains(out, ref) {
		t.Errorf("%s: %s not imported into containerd: %v\n%s", worker.Host, ref, err, out)
	}
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"e2e-pause","namespace":"default"},
"spec":{"nodeName":%q,"containers":[{"name":"pause","image":%q,"imagePullPolicy":"Never"}]}}`, worker.Host, ref)
	if out, err := onMaster("echo " + shellQuote(pod) + " | " + kubectl + "apply -f -"); err != nil {
		t.Fatalf("create pod: %v\n%s", err, out)
	}
	deadline := time.Now().Add(podWait)
	for {
		out, err := onMaster(kubectl + "get pod e2e-pause -o jsonpath={.status.phase}/{.status.podIP}")
		if err == nil && strings.HasPrefix(out, "Running/") {
			ip := strings.TrimPrefix(strings.TrimSpace(out), "Running/")
			if pfx := p.Network.PodCIDR; ip == "" || !pfx.Contains(mustAddr(ip)) {
				t.Errorf("pod IP %q is not in the pod range %s", ip, pfx)
			}
			t.Logf("pod e2e-pause Running on %s with IP %s", worker.Host, ip)
			break
		}
		if time.Now().After(deadline) {
			desc, _ := onMaster(kubectl + "describe pod e2e-pause")
			t.Fatalf("pod e2e-pause not Running after %s (%s):\n%s", podWait, out, desc)
		}
		time.Sleep(10 * time.Second)
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func mustAddr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// provision boots the plan's VMs with `kisgen provision qemu` (timed as the phase "boot to
// sshd") and returns each node's SSH address as the provider recorded it.
func provision(t *testing.T, ph *phases, dir, logFile, planFile string, nodes int) map[string]string {
	t.Helper()
	t0 := time.Now()
	run(t, dir, logFile, commandWait, "provision", "qemu", "-f", planFile)
	ph.add("provision (boot to sshd)", time.Since(t0))
	insts, err := qemu.LoadInstances(filepath.Join(dir, plan.DefaultStateDirName))
	if err != nil || len(insts) != nodes {
		t.Fatalf("recorded instances: %v, %v", insts, err)
	}
	addr := map[string]string{}
	for _, in := range insts {
		addr[in.Host] = in.SSHAddr
	}
	return addr
}
