package cmd

import (
	"encoding/json"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/verify"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// verifyLab is examples/minimal.yaml with its PKI issued and its three nodes in the
// instances record as qemu's, at loopback addresses (no host keys recorded: they come
// from the PKI): etcd1 is a real sshd holding the host key kisgen
// generated for it, master1 a real sshd with another host key (an impostor), worker1 a
// closed port.
type verifyLab struct {
	plan, state string
	etcd1       *sshdtest.Server
}

func newVerifyLab(t *testing.T, issuePKI bool) *verifyLab {
	t.Helper()
	path := planDir(t, "minimal.yaml")
	state := filepath.Join(filepath.Dir(path), plan.DefaultStateDirName)
	signer := planSigner(t, path)
	cfg := sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}}
	if issuePKI {
		p, rep, err := plan.Load(path)
		if err != nil || rep.IsFatal(false) {
			t.Fatalf("plan: %v %v", err, rep)
		}
		b, _, err := pki.Ensure(p, state, pki.Options{})
		if err != nil {
			t.Fatal(err)
		}
		priv, _, ok := b.SSHHostKey("etcd1")
		if !ok {
			t.Fatal("the PKI has no SSH host key for etcd1")
		}
		cfg.HostKeyPEM = priv
	}
	etcd1 := sshdtest.Start(t, cfg)
	impostor := sshdtest.Start(t, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if err := instances.Save(state, instances.Record{Cluster: "minimal", Provider: "qemu", Instances: []instances.Instance{
		{Node: "etcd1", Machine: "minimal-etcd1", SSHAddress: etcd1.Addr},
		{Node: "master1", Machine: "minimal-master1", SSHAddress: impostor.Addr},
		{Node: "worker1", Machine: "minimal-worker1", SSHAddress: closed},
	}}); err != nil {
		t.Fatal(err)
	}
	return &verifyLab{plan: path, state: state, etcd1: etcd1}
}

func TestVerifyCommand(t *testing.T) {
	// The plan's user (kismaticuser) does not exist here, so sshd refuses the login: that
	// is one of the faults reported. If it does exist, that expectation is not checked.
	_, userErr := user.Lookup("kismaticuser")
	noSuchUser := userErr != nil

	t.Run("pinned host keys from the PKI: per-node reasons, exit 1", func(t *testing.T) {
		lab := newVerifyLab(t, true)
		code, out, errOut := run(t, nil, "verify", "-f", lab.plan, "--dial-timeout", "5s")
		if code != ExitFail {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
		}
		want := []string{
			"etcd1    host-key  pass",
			"master1  host-key  fail    host key mismatch",
			"master1  login     skip    not run: host-key failed",
			"worker1  reachable  fail",
			"connection refused by " + "127.0.0.1:",
			"verify: 3 nodes, 0 pass, 3 fail",
		}
		if noSuchUser {
			want = append(want, `etcd1    login     fail    authentication refused: `+lab.etcd1.Addr+` did not accept user "kismaticuser"`)
		}
		for _, w := range want {
			if !strings.Contains(collapse(out), collapse(w)) {
				t.Errorf("stdout lacks %q:\n%s", w, out)
			}
		}
	})

	t.Run("-o json carries reason codes", func(t *testing.T) {
		lab := newVerifyLab(t, true)
		code, out, _ := run(t, nil, "verify", "-f", lab.plan, "-o", "json")
		if code != ExitFail {
			t.Fatalf("exit %d", code)
		}
		var rep verify.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		reasons := map[string]string{}
		for _, n := range rep.Nodes {
			if f := n.FirstFailure(); f != nil {
				reasons[n.Host] = f.Reason
			}
		}
		want := map[string]string{"master1": "host-key-mismatch", "worker1": "connection-refused"}
		if noSuchUser {
			want["etcd1"] = "auth-refused"
		}
		for h, r := range want {
			if reasons[h] != r {
				t.Errorf("%s: reason %q, want %q (all: %v)", h, reasons[h], r, reasons)
			}
		}
	})

	t.Run("no PKI yet: no host key is pinned", func(t *testing.T) {
		lab := newVerifyLab(t, false)
		code, out, errOut := run(t, nil, "verify", "-f", lab.plan)
		if code != ExitFail || !strings.Contains(out, "no pinned host key for etcd1") || !strings.Contains(out, "kisgen render generates") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		if !strings.Contains(errOut, "checking only what the plan decides") {
			t.Errorf("stderr does not say the rendered model is missing:\n%s", errOut)
		}
	})

	t.Run("--insecure-ignore-host-key warns and still reports a known mismatch", func(t *testing.T) {
		lab := newVerifyLab(t, true)
		code, out, errOut := run(t, nil, "verify", "-f", lab.plan, "--insecure-ignore-host-key")
		if code != ExitFail {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(errOut, "WARNING: host keys are NOT checked") || !strings.Contains(errOut, "can pose as") {
			t.Errorf("stderr lacks the warning:\n%s", errOut)
		}
		if !strings.Contains(out, "NOT the pinned key") {
			t.Errorf("stdout lacks master1's mismatch:\n%s", out)
		}
	})

	t.Run("--wait prints plain progress lines when not on a terminal", func(t *testing.T) {
		lab := newVerifyLab(t, true)
		code, _, errOut := run(t, nil, "verify", "-f", lab.plan, "--wait", "1500ms", "--interval", "100ms")
		if code != ExitFail {
			t.Fatalf("exit %d", code)
		}
		for _, w := range []string{"verify: round 1: worker1: reachable: connection refused", "verify: round 1 done after", "of 3 nodes pass"} {
			if !strings.Contains(errOut, w) {
				t.Errorf("stderr lacks %q:\n%s", w, errOut)
			}
		}
		if strings.Contains(errOut, "\x1b[") {
			t.Errorf("escape sequences on a non-terminal:\n%q", errOut)
		}
	})

	usage := []struct {
		name, want string
		args       []string
	}{
		{"unknown output format", `unknown output format "yaml"`, []string{"-o", "yaml"}},
		{"concurrency below 1", "--concurrency must be at least 1", []string{"--concurrency", "0"}},
		{"bad duration", `invalid argument "soon" for "--wait"`, []string{"--wait", "soon"}},
	}
	for _, u := range usage {
		t.Run(u.name+" is a usage error", func(t *testing.T) {
			code, _, errOut := run(t, nil, append([]string{"verify"}, u.args...)...)
			if code != ExitUsage || !strings.Contains(errOut, u.want) {
				t.Errorf("exit %d, stderr %q; want 2 with %q", code, errOut, u.want)
			}
		})
	}
}

// planSigner reads the SSH key planDir put beside the plan at path.
func planSigner(t *testing.T, path string) ssh.Signer {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(filepath.Dir(path), "kismaticuser.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// collapse squeezes runs of spaces so that table columns compare loosely.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestVerifyProgressDetectsATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	targets := []verify.Target{{Host: "etcd1"}}
	done := make(chan []byte)
	go func() {
		buf := make([]byte, 4096)
		n, _ := ptmx.Read(buf)
		done <- buf[:n]
	}()
	p := newVerifyProgress(tty, targets, 0)
	p.Node(1, verify.NodeResult{Host: "etcd1", OK: true})
	if got := string(<-done); !strings.Contains(got, "\x1b[2K") {
		t.Errorf("no redraw on a terminal: %q", got)
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	newVerifyProgress(f, targets, 0).Node(1, verify.NodeResult{Host: "etcd1", OK: true})
	data, _ := os.ReadFile(f.Name())
	if string(data) != "verify: round 1: etcd1: ok\n" {
		t.Errorf("file output %q, want a plain line", data)
	}
}
