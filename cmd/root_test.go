package cmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/spf13/cobra"
)

// TestCompletion generates each shell's completion script and has that shell parse it
// when the shell is installed (.ci/run installs bash, zsh and fish).
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			code, out, errOut := run(t, nil, "completion", sh)
			if code != 0 || !strings.Contains(out, "kisgen") || len(out) < 1000 {
				t.Fatalf("exit %d, %d bytes, stderr %s", code, len(out), errOut)
			}
			shell := testtool.Require(t, sh, sh)
			script := filepath.Join(t.TempDir(), "kisgen."+sh)
			if err := os.WriteFile(script, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(shell, "-n", script).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh, err, b)
			}
		})
	}
	if code, _, _ := run(t, nil, "completion", "powershell-9"); code != 2 {
		t.Errorf("an unknown shell: exit %d, want 2", code)
	}
}

// TestEveryCommandHasHelp walks the command tree: every command answers --help.
func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command, path []string)
	n := 0
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		n++
		args := append(append([]string(nil), path...), "--help")
		code, out, errOut := run(t, nil, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("kisgen %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		if c.Short == "" && len(path) > 0 {
			t.Errorf("kisgen %s has no short description", strings.Join(path, " "))
		}
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	root := NewRootCmd(strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	walk(root, nil)
	if n < 10 {
		t.Errorf("only %d commands", n)
	}
}

func TestUnknownCommandIsAUsageError(t *testing.T) {
	if code, _, errOut := run(t, nil, "plna"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
