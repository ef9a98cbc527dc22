package testtool

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// RequireEnv is set by .ci/run: every tool a test runs is installed there, so a missing
// one is a failure, not a skip.
const RequireEnv = "KISGEN_REQUIRE_VALIDATORS"

// Require returns the absolute path of the tool name, which Debian's package pkg
// provides, from PATH or the sbin directories (not on a normal user's PATH on Debian,
// where dnsmasq and sshd live). Without it the test is skipped, saying what goes
// unchecked and how to install it (scripts/install-deps.sh test installs them all),
// unless RequireEnv is set: then the test fails.
func Require(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin"} {
			if st, serr := os.Stat(filepath.Join(d, name)); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return filepath.Join(d, name)
			}
		}
		Missing(t, name+" is not installed (apt-get install "+pkg+", or scripts/install-deps.sh test): "+err.Error())
	}
	// Absolute: some tools (sshd) refuse to run from a relative path, and children may
	// run in other directories.
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path
}

// Missing skips the test for a missing prerequisite described by why, or fails it when
// RequireEnv is set.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("%s (%s is set: .ci/run must provide it)", why, RequireEnv)
	}
	t.Skip("SKIPPED: " + why)
}

// RequireBuildsEnv, when set, turns Built's skips into failures: for a machine that has
// built everything (kisgen mirror build --conformance) and must run every test.
const RequireBuildsEnv = "KISGEN_REQUIRE_BUILDS"

// Built returns path, a build of kisgen's cache the test runs (e2e.test takes minutes to
// build: tests do not build it), or skips the test saying what is missing and how to
// build it (build, a command line). Unlike Require it does not fail under RequireEnv,
// which CI sets for tools it installs; RequireBuildsEnv makes it fail.
func Built(t testing.TB, path, what, build string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		why := fmt.Sprintf("%s is not built (%s): build it with `%s`", what, path, build)
		if os.Getenv(RequireBuildsEnv) != "" {
			t.Fatalf("%s (%s is set)", why, RequireBuildsEnv)
		}
		t.Skip("SKIPPED: " + why)
	}
	return path
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (a server's goroutines, a
// child's stdout and stderr).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs name with args in the background, its output in a log file, until the test
// ends; then it is killed, and the log's last lines are printed if the test failed.
func Start(t testing.TB, logName, name string, args ...string) {
	t.Helper()
	StartCmd(t, logName, exec.Command(name, args...))
}

// StartCmd is Start for a command the caller prepared (its environment, say). It returns
// cmd, started, so that a test can stop the process before the test ends (Kill, then
// Wait); the cleanup then finds it stopped.
func StartCmd(t testing.TB, logName string, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), logName)
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			if len(data) > 6000 {
				data = data[len(data)-6000:]
			}
			t.Logf("--- last lines of %s ---\n%s", logName, data)
		}
	})
	return cmd
}

// WaitFor retries f until it succeeds, failing the test after timeout with f's error.
func WaitFor(t testing.TB, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not ready after %v: %v", what, timeout, err)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
