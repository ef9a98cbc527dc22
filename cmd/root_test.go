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

// TestUnknownSubcommandOfEveryGroup: a typo after any command group exits 2 and names
// the subcommand meant, instead of printing the group's help and exiting 0.
func TestUnknownSubcommandOfEveryGroup(t *testing.T) {
	cases := []struct{ args []string }{
		{[]string{"certs", "chek"}},
		{[]string{"mirror", "biuld"}},
		{[]string{"plna"}},
	}
	root := NewRootCmd(strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	groups := 0
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || !sub.HasAvailableSubCommands() {
				continue
			}
			groups++
			// The first subcommand's name with its last two letters swapped.
			name := []rune(sub.Commands()[0].Name())
			n := len(name)
			name[n-1], name[n-2] = name[n-2], name[n-1]
			cases = append(cases, struct{ args []string }{append(append([]string(nil), path...), sub.Name(), string(name))})
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	walk(root, nil)
	if groups < 5 {
		t.Fatalf("only %d command groups found", groups)
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, nil, tc.args...)
			if code != ExitUsage || !strings.Contains(errOut, "unknown ") || !strings.Contains(errOut, "Did you mean this?") {
				t.Errorf("exit %d, want 2 with a suggestion\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	}
	for _, args := range [][]string{{"help", "plna"}, {"help", "certs", "chek"}} {
		if code, _, errOut := run(t, nil, args...); code != ExitUsage || !strings.Contains(errOut, "Did you mean this?") {
			t.Errorf("kisgen %s: exit %d, want 2 with a suggestion\n%s", strings.Join(args, " "), code, errOut)
		}
	}
	if code, out, _ := run(t, nil, "help", "certs", "check"); code != ExitOK || !strings.Contains(out, "kisgen certs check [flags]") {
		t.Errorf("kisgen help certs check: exit %d\n%s", code, out)
	}
	// A group alone still shows its help.
	if code, out, _ := run(t, nil, "certs"); code != ExitOK || !strings.Contains(out, "Usage:") {
		t.Errorf("kisgen certs: exit %d\n%s", code, out)
	}
}

func TestVersionFlag(t *testing.T) {
	code, flagOut, errOut := run(t, nil, "--version")
	_, cmdOut, _ := run(t, nil, "version")
	if code != ExitOK || flagOut != cmdOut || !strings.HasPrefix(flagOut, "kisgen ") {
		t.Errorf("kisgen --version: exit %d, %q (stderr %q); kisgen version: %q", code, flagOut, errOut, cmdOut)
	}
}
