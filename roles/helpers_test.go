package roles_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

// model builds the models of every node of an example plan (after edits) with a real PKI.
func model(t *testing.T, example string, edits ...string) (*plan.Plan, map[string]*roles.Node) {
	t.Helper()
	p := rendertest.ExamplePlan(t, example, edits...)
	return p, byHost(rendertest.Models(t, p))
}

// byHost indexes models by host.
func byHost(nodes []*roles.Node, _ []string) map[string]*roles.Node {
	out := map[string]*roles.Node{}
	for _, n := range nodes {
		out[n.Host] = n
	}
	return out
}

// writeRoot writes a node's files and units under root, as its user-data would.
func writeRoot(t *testing.T, root string, n *roles.Node) {
	t.Helper()
	for _, f := range n.Files {
		writeFile(t, filepath.Join(root, f.Path), f.Content, f.Mode)
	}
	for _, u := range n.Units {
		writeFile(t, filepath.Join(root, roles.UnitDir, u.Name), u.Content, 0o644)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Replace, never write through, whatever is there (a symlink to a real tool).
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// file returns a node's file by path.
func file(t *testing.T, n *roles.Node, path string) roles.File {
	t.Helper()
	for _, f := range n.Files {
		if f.Path == path {
			return f
		}
	}
	t.Fatalf("%s has no file %s", n.Host, path)
	return roles.File{}
}

func hasFile(n *roles.Node, path string) bool {
	for _, f := range n.Files {
		if f.Path == path {
			return true
		}
	}
	return false
}

func unit(t *testing.T, n *roles.Node, name string) roles.Unit {
	t.Helper()
	for _, u := range n.Units {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("%s has no unit %s", n.Host, name)
	return roles.Unit{}
}

func unitNames(n *roles.Node) []string {
	var out []string
	for _, u := range n.Units {
		out = append(out, u.Name)
	}
	return out
}

// stubs makes a directory of commands for PATH: each of tools is linked to the real one
// found on this machine, each stub is a shell script with the given body.
func stubs(t *testing.T, dir string, tools []string, scripts map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range tools {
		if _, stubbed := scripts[tool]; stubbed {
			continue // a stub replaces it (never write through a link to the real tool)
		}
		real := testtool.Require(t, tool, toolPackages[tool])
		if err := os.Symlink(real, filepath.Join(dir, tool)); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	for name, body := range scripts {
		writeFile(t, filepath.Join(dir, name), "#!/bin/bash\n"+body+"\n", 0o755)
	}
	return dir
}

// shellTools are the commands the node scripts themselves use.
// toolPackages are the Debian packages of shellTools that coreutils does not provide.
var toolPackages = func() map[string]string {
	m := map[string]string{"bash": "bash", "awk": "mawk", "sed": "sed", "grep": "grep", "tar": "tar", "gzip": "gzip", "curl": "curl", "cmp": "diffutils"}
	for _, t := range shellTools {
		if m[t] == "" {
			m[t] = "coreutils"
		}
	}
	return m
}()

var shellTools = []string{"bash", "awk", "sed", "grep", "cat", "date", "mktemp", "mv", "chmod", "mkdir", "tr", "head", "tail",
	"sort", "rm", "cut", "ln", "install", "sha256sum", "tar", "gzip", "curl", "seq", "sleep", "cmp", "readlink", "env"}

func envWith(base []string, kv ...string) []string {
	out := append([]string(nil), base...)
	for _, s := range kv {
		k := s[:strings.IndexByte(s, '=')+1]
		kept := out[:0]
		for _, e := range out {
			if !strings.HasPrefix(e, k) {
				kept = append(kept, e)
			}
		}
		out = append(kept, s)
	}
	return out
}
