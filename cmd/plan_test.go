package cmd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/plan"
)

func TestPlanNonInteractiveWritesAPlanThatValidates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kismatic-cluster.yaml")
	code, out, errOut := run(t, nil, "plan", "--non-interactive", "-f", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{"Wrote " + file + ": 3 etcd, 2 master, 3 worker nodes, overlay networking, provider qemu.",
		"Created the SSH key pair " + filepath.Join(dir, "kismaticuser.key")} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	for path, mode := range map[string]os.FileMode{file: 0o644, filepath.Join(dir, "kismaticuser.key"): 0o600, filepath.Join(dir, "kismaticuser.key.pub"): 0o644} {
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", path, err, st.Mode().Perm(), mode)
		}
	}
	key, _ := os.ReadFile(filepath.Join(dir, "kismaticuser.key"))
	if _, err := ssh.ParseRawPrivateKey(key); err != nil {
		t.Errorf("the key does not parse: %v", err)
	}
	// The plan validates strictly: the guide's defaults give no warning.
	if code, out, errOut := run(t, nil, "validate", "--strict", "-f", file); code != 0 {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}

	// A second run refuses to replace it, before asking anything.
	before, _ := os.ReadFile(file)
	code, out, errOut = run(t, strings.NewReader("should not be read\n"), "plan", "-f", file)
	if code != 1 || !strings.Contains(errOut, "already exists") || strings.Contains(out, "Cluster name") {
		t.Errorf("second run: exit %d\n%s%s", code, out, errOut)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("the plan was changed")
	}
	// --force replaces it, and keeps the key.
	code, _, errOut = run(t, nil, "plan", "-y", "--force", "--etcd", "1", "--masters", "1", "--workers", "1", "-f", file)
	if code != 0 {
		t.Fatalf("--force: exit %d\n%s", code, errOut)
	}
	if after, _ := os.ReadFile(file); bytes.Equal(before, after) {
		t.Error("--force did not replace the plan")
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "kismaticuser.key")); !bytes.Equal(key, again) {
		t.Error("the key was replaced")
	}
}

// TestPlanImageArchivesCluster: `--image-archives cluster` lists the archive of every
// image the planned cluster runs, at the paths `kisgen mirror build` writes them, and
// follows the answers (no CoreDNS archive without cluster DNS, no Calico's with bridge);
// "conformance" adds the e2e suite's images, and archives named beside them are kept.
func TestPlanImageArchivesCluster(t *testing.T) {
	e2e := []string{"images/e2e-agnhost-2.66.1.tar", "images/e2e-glibc-dns-testing-2.1.1.tar", "images/e2e-nginx-1.27.0-2.tar",
		"images/e2e-busybox-1.37.0-2.tar", "images/e2e-nonroot-1.5.tar", "images/e2e-pause-3.10.2.tar"}
	for _, tc := range []struct {
		name     string
		archives string
		args     []string
		want     []string
	}{
		{"calico and DNS", "cluster", []string{"--cni", "calico"}, []string{"images/pause-3.10.1.tar", "images/coredns-v1.15.0.tar",
			"images/calico-node-v3.32.1.tar", "images/calico-cni-v3.32.1.tar", "images/calico-kube-controllers-v3.32.1.tar"}},
		{"bridge without DNS", "cluster", []string{"--cni", "bridge", "--cluster-dns=false"}, []string{"images/pause-3.10.1.tar"}},
		{"cluster and conformance, and one more", "cluster, conformance,images/extra.tar", []string{"--cni", "bridge", "--cluster-dns=false"},
			append(append([]string{"images/pause-3.10.1.tar"}, e2e...), "images/extra.tar")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "kismatic-cluster.yaml")
			args := append([]string{"plan", "--non-interactive", "-f", file, "--mirror-url", "http://10.0.2.100:8080", "--image-archives", tc.archives}, tc.args...)
			if code, out, errOut := run(t, nil, args...); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			p, rep, err := plan.Load(file)
			if err != nil || p == nil {
				t.Fatalf("load: %v %v", err, rep)
			}
			if diff := cmp.Diff(tc.want, p.Mirror.ImageArchives); diff != "" {
				t.Errorf("image archives (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanFlagsAndUsageErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"an invalid answer as a flag is a usage error", []string{"-y", "--etcd", "4"}, 2, "--etcd=4: 4 etcd nodes survive no more failures than 3"},
		{"a flag of the wrong type is a usage error", []string{"-y", "--etcd", "three"}, 2, `invalid argument "three"`},
		{"a malformed --node is a usage error", []string{"-y", "--node", "etcd1=10.0.0.1"}, 2, "is not ROLE:HOST=IP"},
		{"scripts list the nodes", []string{"-y", "--node", "etcd:e1=10.0.0.11", "--node", "master:m1=10.0.0.21", "--node", "worker:w1=10.0.0.31",
			"--name", "lab", "--networking", "routed", "--network-policy", "--name-resolution", "dns", "--country", "de"}, 0, ""},
		{"an argument is a usage error", []string{"extra"}, 2, "unknown command"},
		{"a missing directory fails before any question", []string{"-f", "nowhere/p.yaml"}, 1, "does not exist: create it first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "p.yaml")
			code, out, errOut := run(t, nil, append([]string{"plan", "-f", file}, tt.args...)...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) {
				t.Fatalf("exit %d, want %d; stderr lacks %q?\n%s%s", code, tt.code, tt.stderr, out, errOut)
			}
			_, err := os.Stat(file)
			if (code == 0) != (err == nil) {
				t.Errorf("exit %d, plan file: %v", code, err)
			}
			if code == 0 {
				if code, out, errOut := run(t, nil, "validate", "-f", file); code != 0 {
					t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
				}
			}
		})
	}
}

func TestPlanWithInjectedInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kismatic-cluster.yaml")
	// Every question in order: a few answers, wrong ones among them, Enter for the rest.
	input := strings.Join([]string{
		"lab",    // cluster name
		"",       // provider
		"",       // os
		"2", "1", // etcd: refused, then 1
		"1",               // masters
		"2",               // workers
		"",                // pod network: calico
		"routed", "64512", // networking, AS number
		"dns",  // name resolution
		"yes",  // network policy
		"",     // cluster DNS
		"", "", // pod, service ranges
		"", "192.168.5.10", "", // addressing, base ip, prefix
		"", "", "", "", // expiry, city, state, country
		"", "", // ssh user, key
		"", // mirror
	}, "\n") + "\n"
	code, out, errOut := run(t, strings.NewReader(input), "plan", "-f", file)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{"  Cluster name [kubernetes]: lab\n", "    ! 2 etcd nodes survive no more failures than 1",
		"    note: a single etcd node is unsafe", "nodes: etcd1 192.168.5.11, master1 192.168.5.21, worker1 192.168.5.31, worker2 192.168.5.32",
		"Wrote " + file + ": 1 etcd, 1 master, 2 worker nodes, routed networking, provider qemu."} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	plan, _ := os.ReadFile(file)
	for _, s := range []string{"name: lab\n", "as_number: 64512\n", "network_policy: true\n", "update_hosts_files: false\n", "ip: 192.168.5.32\n"} {
		if !strings.Contains(string(plan), s) {
			t.Errorf("plan lacks %q", s)
		}
	}
}

func TestPlanInputEndingWritesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kismatic-cluster.yaml")
	code, _, errOut := run(t, strings.NewReader("lab\n"), "plan", "-f", file)
	if code != 1 || !strings.Contains(errOut, "the input ended before every question was answered: nothing was written") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}

func TestPlanFromKismatic(t *testing.T) {
	t.Run("a v1.12 plan becomes a kisgen plan that validates", func(t *testing.T) {
		src := planDir(t, "kismatic-v1.12.yaml")
		dst := filepath.Join(filepath.Dir(src), "kismatic-cluster.yaml")
		code, out, errOut := run(t, nil, "plan", "--from-kismatic", src, "-f", dst)
		if code != 0 || !strings.Contains(out, ":73:23: master.load_balanced_fqdn → master.load_balancer: 192.168.205.11 → 192.168.205.11:6443 — load_balanced_fqdn and load_balanced_short_name are deprecated\n") ||
			!strings.Contains(out, "Wrote "+dst+" from the Kismatic plan") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		data, _ := os.ReadFile(dst)
		if !strings.Contains(string(data), "load_balancer: 192.168.205.11:6443") || strings.Contains(string(data), "\n  load_balanced_fqdn:") {
			t.Errorf("converted plan:\n%s", data)
		}
		code, out, _ = run(t, nil, "validate", "-f", dst)
		if code != 0 || strings.Contains(out, "deprecated") {
			t.Errorf("validate: exit %d\n%s", code, out)
		}
	})
	t.Run("the release's v1.10.5 becomes kisgen's version, and the change is printed", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "old.yaml")
		data, _ := os.ReadFile(filepath.Join("..", "plan", "testdata", "kismatic", "release-v1.12.yaml"))
		os.WriteFile(src, data, 0o644)
		writeKey(t, filepath.Join(dir, "kismaticuser.key"))
		dst := filepath.Join(dir, "new.yaml")
		code, out, errOut := run(t, nil, "plan", "--from-kismatic", src, "-f", dst)
		if code != 0 || !strings.Contains(out, src+":3:12: cluster.version: v1.10.5 → "+plan.DefaultKubernetesVersion+" — ") || strings.Contains(out, "error") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("content errors are written, printed and exit 1", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "old.yaml")
		data, _ := os.ReadFile(filepath.Join("..", "plan", "testdata", "kismatic", "release-v1.12.yaml"))
		os.WriteFile(src, bytes.Replace(data, []byte("expected_count: 3"), []byte("expected_count: 4"), 1), 0o644)
		writeKey(t, filepath.Join(dir, "kismaticuser.key"))
		dst := filepath.Join(dir, "new.yaml")
		code, out, errOut := run(t, nil, "plan", "--from-kismatic", src, "-f", dst)
		if code != 1 || !strings.Contains(out, "error: etcd.expected_count: expected_count is 4 but 3 nodes are listed") ||
			!strings.Contains(errOut, "has errors to fix (1 error") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if _, err := os.Stat(dst); err != nil {
			t.Error("the converted plan was not written")
		}
	})
	t.Run("a plan that cannot be converted writes nothing", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "old.yaml")
		os.WriteFile(src, []byte("cluster: {name: a, flavour: b}\n"), 0o644)
		code, out, errOut := run(t, nil, "plan", "--from-kismatic", src, "-f", filepath.Join(dir, "new.yaml"))
		if code != 1 || !strings.Contains(out, `unknown key "flavour"`) {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "new.yaml")); err == nil {
			t.Error("a plan was written")
		}
	})
}

// terminal runs `kisgen plan` in-process with a real pseudo-terminal as its input and
// output, as a user at a terminal would: the kernel's line discipline handles Enter,
// erase and end-of-file, and echoes what is typed.
type terminal struct {
	t    *testing.T
	ptmx *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan int
	err  bytes.Buffer
}

func startTerminal(t *testing.T, args ...string) *terminal {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no pseudo-terminal: %v", err)
		}
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	term := &terminal{t: t, ptmx: ptmx, done: make(chan int, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			term.mu.Lock()
			term.buf.Write(b[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		term.done <- Execute(args, tty, tty, &term.err)
		tty.Close()
	}()
	t.Cleanup(func() { ptmx.Close() })
	return term
}

// expect waits until the output holds s after what earlier expects consumed.
func (term *terminal) expect(s string) {
	term.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		term.mu.Lock()
		i := strings.Index(term.buf.String(), s)
		if i >= 0 {
			term.buf.Next(i + len(s))
			term.mu.Unlock()
			return
		}
		term.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	term.mu.Lock()
	defer term.mu.Unlock()
	term.t.Fatalf("no %q in the terminal output:\n%s", s, term.buf.String())
}

func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := io.WriteString(term.ptmx, s); err != nil {
		term.t.Fatal(err)
	}
}

func (term *terminal) wait() int {
	term.t.Helper()
	select {
	case code := <-term.done:
		return code
	case <-time.After(30 * time.Second):
		term.t.Fatal("kisgen plan did not finish")
		return -1
	}
}

func TestPlanThroughAPseudoTerminal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kismatic-cluster.yaml")
	term := startTerminal(t, "plan", "-f", file)
	term.expect("Cluster name [kubernetes]: ")
	term.send("tty-labx\x7f\r")  // a typo erased with Backspace, then Enter (CR, which the terminal turns into a newline)
	term.expect("tty-labx\b \b") // the terminal echoes the erase
	term.expect("[qemu]: ")
	term.send("\r")
	term.expect("[debian-12]: ")
	term.send("flatcar\r")
	// The qemu provider boots kisgen's Debian images: the question is asked again.
	term.expect("! the qemu provider boots kisgen's images of debian-12 and debian-13; choose one of them, or another provider")
	term.expect("[debian-12]: ")
	term.send("debian-13\r")
	term.expect("etcd nodes: 1 (development only), 3 (survives one failure), 5 (two) or 7 (three) [3]: ")
	term.send("6\r")
	term.expect("! 6 etcd nodes survive no more failures than 5: etcd needs a majority, so choose 1, 3, 5 or 7")
	term.expect("[3]: ")
	term.send("\r")
	// Enter for every other question.
	for _, prompt := range []string{"[2]: ", "[3]: ", "[calico]: ", "[overlay]: ", "[hosts]: ", "[no]: ", "[yes]: ", "[172.16.0.0/16]: ", "[172.17.0.0/16]: ",
		"[generate]: ", "[10.10.0.10]: ", "worker1…): ", "[10.10.0.20:6443]: ", "[17520h]: ", "(optional): ", "(optional): ", "[US]: ",
		"[kismaticuser]: ", "[kismaticuser.key]: ", "makes one): "} {
		term.expect(prompt)
		term.send("\r")
	}
	term.expect("Wrote " + file + ": 3 etcd, 2 master, 3 worker nodes, overlay networking, provider qemu.")
	if code := term.wait(); code != 0 {
		t.Fatalf("exit %d: %s", code, term.err.String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"name: tty-lab\n", "os: debian-13\n", "image: debian-13\n"} {
		if !strings.Contains(string(data), s) {
			t.Errorf("plan lacks %q", s)
		}
	}
	if code, out, errOut := run(t, nil, "validate", "--strict", "-f", file); code != 0 {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
}

func TestPlanEndOfInputAtATerminal(t *testing.T) {
	dir := t.TempDir()
	term := startTerminal(t, "plan", "-f", filepath.Join(dir, "kismatic-cluster.yaml"))
	term.expect("Cluster name [kubernetes]: ")
	term.send("\x04") // Ctrl-D on an empty line: end of input
	if code := term.wait(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(term.err.String(), "nothing was written") {
		t.Errorf("stderr: %s", term.err.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files written: %v", entries)
	}
}
