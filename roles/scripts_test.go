package roles_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/kisgen/kisgen/roles"
)

// TestScriptsPassShellcheck checks every node script as it lands on a node: bash's own
// parser, then shellcheck with the library it sources.
func TestScriptsPassShellcheck(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	// bridge: the first master then carries every script there is.
	_, nodes := model(t, "minimal.yaml", "    provider: calico\n", "    provider: bridge\n")
	n := nodes["master1"]
	root := t.TempDir()
	writeRoot(t, root, n)
	var scripts []string
	for _, f := range n.Files {
		if strings.HasPrefix(f.Path, roles.BinDir+"/") || f.Path == roles.LibPath {
			scripts = append(scripts, filepath.Join(root, f.Path))
		}
	}
	if len(scripts) != 8 {
		t.Fatalf("expected the library and 7 scripts on the first master, got %v", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command("bash", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("bash -n %s: %v\n%s", s, err, out)
		}
	}
	sc := testtool.Require(t, "shellcheck", "shellcheck")
	cmd := exec.Command(sc, append([]string{"--source-path=SCRIPTDIR", "-x", "--severity=style"}, scripts...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
