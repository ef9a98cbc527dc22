package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/cachedir"
)

// TestCommandsFindImagesInThePerUserCache: the commands that read images `kisgen image
// build` published find them in the per-user cache, given by --cache or KISGEN_CACHE
// (relative ones made absolute), not in a .cache beside the current directory.
func TestCommandsFindImagesInThePerUserCache(t *testing.T) {
	planPath, _ := bundleFixture(t)
	t.Chdir(t.TempDir())
	abs, err := filepath.Abs("c")
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		args []string
		env  string
	}{
		"--cache":      {args: []string{"--cache", "c"}},
		"KISGEN_CACHE": {env: "c"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(cachedir.Env, tt.env)
			args := append([]string{"bundle", "pxe", "-f", planPath, "--out", "b"}, tt.args...)
			code, _, stderr := run(t, nil, args...)
			if want := filepath.Join(abs, "images", "debian-12", "vmlinuz"); code != ExitFail || !strings.Contains(stderr, want) {
				t.Errorf("bundle pxe: exit %d, want a failure naming %s:\n%s", code, want, stderr)
			}
		})
	}
}

// TestPackerBaseImageIsInThePerUserCache: `kisgen packer` points the qemu template's
// base image at CACHE/images/OS, where `kisgen image build` publishes it.
func TestPackerBaseImageIsInThePerUserCache(t *testing.T) {
	plan := mirrorPlan(t)
	out := filepath.Join(filepath.Dir(plan), "packer")
	cache := t.TempDir()
	if code, stdout, stderr := run(t, nil, "packer", "-f", plan, "--out", out, "--builder", "qemu", "--cache", cache); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	src, err := os.ReadFile(filepath.Join(out, "qemu-debian-12", "kisgen.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `var.base_image : "` + filepath.Join(cache, "images", "debian-12") + `"`; !strings.Contains(string(src), want) {
		t.Errorf("the template lacks %s", want)
	}
}
