package testtool

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestToolsAreFoundThroughTesttool reads every test of the module (and the test
// helpers of verify/sshdtest) for a tool looked up by hand. Such a lookup is how `make
// test` failed on a fresh machine: TestDnsmasqAcceptsBothConfigurations,
// TestCloudInitReadsTheGuestinfo and the real-sshd tests called t.Fatal for a missing
// tool instead of skipping, and a bare skip would hide it from CI. Require skips locally
// and fails under KISGEN_REQUIRE_VALIDATORS. The e2e tests (build tag e2e) need their
// tools outright and are left out.
func TestToolsAreFoundThroughTesttool(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	var bad []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == ".cache" || n == "testdata" || path == filepath.Join(root, "internal", "testtool") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if !strings.HasSuffix(path, "_test.go") && !strings.HasPrefix(rel, filepath.Join("verify", "sshdtest")+string(filepath.Separator)) {
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.HasPrefix(src, []byte("//go:build e2e")) {
			return nil
		}
		for i, line := range strings.Split(string(src), "\n") {
			if strings.Contains(line, "exec.LookPath(") {
				bad = append(bad, rel+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("find tools with testtool.Require (skip locally, fail in CI), not exec.LookPath:\n%s", strings.Join(bad, "\n"))
	}
}

// TestRequireSkipsOrFails: a missing tool skips the test, and fails it under RequireEnv.
func TestRequireSkipsOrFails(t *testing.T) {
	const missing = "kisgen-no-such-tool"
	for _, env := range []string{"", "1"} {
		t.Setenv(RequireEnv, env)
		ft := &fakeT{}
		func() {
			defer func() { _ = recover() }()
			Require(ft, missing, "nothing")
		}()
		if env == "" && (!ft.skipped || ft.failed) {
			t.Errorf("without %s: skipped %v, failed %v; want a skip", RequireEnv, ft.skipped, ft.failed)
		}
		if env != "" && (!ft.failed || ft.skipped) {
			t.Errorf("with %s: skipped %v, failed %v; want a failure", RequireEnv, ft.skipped, ft.failed)
		}
		if !strings.Contains(ft.msg, "apt-get install nothing") {
			t.Errorf("message %q does not say what to install", ft.msg)
		}
	}
	if p := Require(t, "sh", "dash"); !filepath.IsAbs(p) {
		t.Errorf("Require(sh) = %q, want an absolute path", p)
	}
}

// fakeT records a skip or failure; both stop the caller as the testing package does.
type fakeT struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	panic("skip")
}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	panic("fatal")
}
