// Package sshdtest runs real OpenSSH sshd servers on loopback ports for tests, each with
// its own host key, authorized keys and environment, logging in as the user running the
// tests. It needs the sshd binary (Debian: apt-get install openssh-server).
package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/testtool"
)

// Config is one sshd.
type Config struct {
	// AuthorizedKeys may log in as the current user.
	AuthorizedKeys []ssh.PublicKey
	// HostKey is the server's host key; nil generates an ed25519 key (unless HostKeyPEM).
	HostKey ed25519.PrivateKey
	// HostKeyPEM is a host private key in OpenSSH or PEM form, used instead of HostKey.
	HostKeyPEM []byte
	// Env is set in every session (sshd SetEnv, applied after sshd's own PATH and HOME).
	// Unless Env sets HOME, it points at an empty directory so that the user's shell
	// start-up files (bash sources ~/.bashrc under sshd) do not run in sessions.
	Env map[string]string
	// Extra are more sshd_config lines.
	Extra []string
}

// Server is a running sshd.
type Server struct {
	// Addr is its loopback address, "127.0.0.1:PORT".
	Addr string
	// HostKey is its host public key.
	HostKey ssh.PublicKey
	// User is the user sessions log in as (the one running the tests).
	User string
	// Dir holds its configuration and keys.
	Dir string

	mu     sync.Mutex
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// Path returns the absolute path of sshd (sshd refuses to re-exec from a relative one).
// Where it is not installed the test is skipped, or fails under
// KISGEN_REQUIRE_VALIDATORS, as every test that runs a real tool (internal/testtool).
func Path(t testing.TB) string {
	t.Helper()
	return testtool.Require(t, "sshd", "openssh-server")
}

// NewSigner returns a new ed25519 client key.
func NewSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// NewHostKey returns a new ed25519 host key and its public key.
func NewHostKey(t testing.TB) (ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// HostKeyLines returns a new ed25519 host public key for each host, as one
// authorized_keys line without a newline: the form kisgen's PKI gives a node's host key
// in and the instances record keeps it.
func HostKeyLines(t testing.TB, hosts ...string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(hosts))
	for _, h := range hosts {
		_, pub := NewHostKey(t)
		out[h] = string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(pub)))
	}
	return out
}

// WritePrivateKey writes key in OpenSSH form, mode 0600.
func WritePrivateKey(t testing.TB, path string, key any) {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Start runs sshd with cfg until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := Path(t)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd run by root insists on its privilege separation directory, which systemd
		// normally creates (RuntimeDirectory=sshd).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd needs /run/sshd: %v", err)
		}
	}
	dir := t.TempDir()
	s := &Server{User: u.Username, Dir: dir}
	if cfg.HostKeyPEM != nil {
		signer, err := ssh.ParsePrivateKey(cfg.HostKeyPEM)
		if err != nil {
			t.Fatalf("host key: %v", err)
		}
		s.HostKey = signer.PublicKey()
		if err := os.WriteFile(filepath.Join(dir, "host_key"), cfg.HostKeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		hk := cfg.HostKey
		if hk == nil {
			hk, _ = NewHostKey(t)
		}
		if s.HostKey, err = ssh.NewPublicKey(hk.Public()); err != nil {
			t.Fatal(err)
		}
		WritePrivateKey(t, filepath.Join(dir, "host_key"), hk)
	}
	var ak bytes.Buffer
	for _, k := range cfg.AuthorizedKeys {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ak.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for k, v := range cfg.Env {
		env[k] = v
	}
	if _, ok := env["HOME"]; !ok {
		home := filepath.Join(dir, "home")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		env["HOME"] = home
	}
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		port := testtool.FreePort(t)
		conf := s.config(dir, port, env, cfg.Extra)
		if err := s.start(bin, conf, fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			lastErr = err.Error()
			continue
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatalf("sshd did not start: %s", lastErr)
	return nil
}

func (s *Server) config(dir string, port int, env map[string]string, extra []string) string {
	lines := []string{
		fmt.Sprintf("ListenAddress 127.0.0.1:%d", port),
		"HostKey " + filepath.Join(dir, "host_key"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none",
		"StrictModes no",
		"UsePAM no",
		"UseDNS no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		// Many connections and sessions at once: the benchmark opens 64 in parallel.
		"MaxStartups 1000",
		"MaxSessions 100",
		"LogLevel ERROR",
	}
	if len(env) > 0 {
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, fmt.Sprintf("%q", k+"="+env[k]))
		}
		lines = append(lines, "SetEnv "+strings.Join(kv, " "))
	}
	lines = append(lines, extra...)
	path := filepath.Join(dir, "sshd_config")
	_ = os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	return path
}

func (s *Server) start(bin, conf, addr string) error {
	// OpenSSH 9.8 and later penalise addresses that fail to log in, which would lock the
	// tests' own failures out; older versions do not know the option.
	if out, err := exec.Command(bin, "-t", "-f", conf, "-o", "PerSourcePenalties=no").CombinedOutput(); err == nil {
		if f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			_, _ = f.WriteString("PerSourcePenalties no\n")
			_ = f.Close()
		}
	} else if !strings.Contains(string(out), "PerSourcePenalties") {
		return fmt.Errorf("sshd -t: %s", out)
	}
	stderr := &bytes.Buffer{}
	cmd := exec.Command(bin, "-D", "-e", "-f", conf)
	cmd.Stderr = &lockedWriter{w: stderr, mu: &s.mu}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.mu.Lock()
			defer s.mu.Unlock()
			return fmt.Errorf("sshd exited: %s", stderr.String())
		default:
		}
		if banner(addr) {
			s.cmd, s.stderr = cmd, stderr
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return fmt.Errorf("sshd did not answer on %s within 10s: %s", addr, stderr.String())
}

// banner reports whether an SSH server answers at addr.
func banner(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-2.0-")
}

// Stop kills sshd (and with it the sessions it serves).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		s.cmd = nil
	}
}

// Log returns what sshd printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stderr == nil {
		return ""
	}
	return s.stderr.String()
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
