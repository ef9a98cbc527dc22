package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"
)

// TestExamplesValidateFromTheRepositoryRoot does what the README says: `make examples`
// (the example plans' SSH key, generated and git-ignored), then `kisgen validate -f
// examples/NAME.yaml` from the repository root, for every example. Before `make
// examples` existed, each failed: the key the examples name was nowhere.
func TestExamplesValidateFromTheRepositoryRoot(t *testing.T) {
	mk := testtool.Require(t, "make", "make")
	t.Chdir("..")
	if out, err := exec.Command(mk, "--no-print-directory", "examples").CombinedOutput(); err != nil {
		t.Fatalf("make examples: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if code, stdout, stderr := run(t, nil, "validate", "-f", f); code != 0 {
				t.Errorf("kisgen validate -f %s: exit %d\n%s%s", f, code, stdout, stderr)
			}
		})
	}
	// A second run keeps the key: the examples' key never changes under a user.
	before, _ := os.ReadFile(filepath.Join("examples", "kismaticuser.key"))
	if out, err := exec.Command(mk, "--no-print-directory", "examples").CombinedOutput(); err != nil || !strings.Contains(string(out), "kept") {
		t.Errorf("make examples again: %v\n%s", err, out)
	}
	if after, _ := os.ReadFile(filepath.Join("examples", "kismaticuser.key")); string(after) != string(before) {
		t.Error("make examples replaced the key")
	}
}

// TestMissingKeyHintCreatesTheKeyThePlanReads runs validate on a plan in another
// directory than the current one, runs the ssh-keygen command its hint gives, and
// validates again: the hint must name the key where the plan resolves it (beside the
// plan), not the plan's own relative spelling, which ssh-keygen would take from here.
func TestMissingKeyHintCreatesTheKeyThePlanReads(t *testing.T) {
	keygen := testtool.Require(t, "ssh-keygen", "openssh-client")
	data, err := os.ReadFile(filepath.Join("..", "examples", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if err := os.Mkdir("plans", 0o755); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join("plans", "minimal.yaml")
	if err := os.WriteFile(planFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, nil, "validate", "-f", planFile)
	m := regexp.MustCompile(`ssh-keygen -t ed25519 -N '' -f (\S+)`).FindStringSubmatch(stdout + stderr)
	if code != ExitFail || m == nil {
		t.Fatalf("want a failure with an ssh-keygen hint, got exit %d\n%s%s", code, stdout, stderr)
	}
	if want := filepath.Join("plans", "kismaticuser.key"); m[1] != want {
		t.Errorf("the hint writes %s, the plan reads %s", m[1], want)
	}
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", m[1]).CombinedOutput(); err != nil {
		t.Fatalf("the hint's command: %v\n%s", err, out)
	}
	if code, stdout, stderr := run(t, nil, "validate", "-f", planFile); code != 0 {
		t.Errorf("after the hint's command: exit %d\n%s%s", code, stdout, stderr)
	}
}
