package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvisionDryRunChangesNothing: --dry-run lists what provision (or destroy) would do
// with each node's machine, here none exists yet for the qemu provider, and creates no
// VM directory, no record and no switch.
func TestProvisionDryRunChangesNothing(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	dir := filepath.Dir(path)
	state := filepath.Join(dir, "state")
	code, out, errOut := run(t, nil, "provision", "qemu", "--dry-run", "-f", path, "--state", state, "--cache", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{"NODE     ACTION  MACHINE  STATE  NOTE", "etcd1    create", "master1  create", "worker1  create"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	for _, s := range []string{"no rendered user-data", "dry run of provision with qemu: nothing was created, changed or removed"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut)
		}
	}
	code, out, errOut = run(t, nil, "provision", "qemu", "--destroy", "--dry-run", "-f", path, "--state", state)
	if code != 0 || strings.Contains(out, "remove") {
		t.Errorf("destroy dry run: exit %d\n%s%s", code, out, errOut)
	}
	for _, p := range []string{filepath.Join(dir, ".cache"), state} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created by a dry run", p)
		}
	}
}

func TestFromTagsIsForDestroy(t *testing.T) {
	code, _, errOut := run(t, nil, "provision", "--from-tags", "-f", planDir(t, "minimal.yaml"))
	if code != 2 || !strings.Contains(errOut, "--from-tags is for --destroy") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
