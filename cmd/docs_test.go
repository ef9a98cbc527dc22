package cmd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/testtool"
)

// documented returns the command paths the doc generators write a page for: every
// command but hidden ones and help topics, as cobra's GenManTree decides.
func documented(c *cobra.Command) []string {
	if !c.IsAvailableCommand() && c.HasParent() || c.IsAdditionalHelpTopicCommand() {
		return nil
	}
	out := []string{c.CommandPath()}
	for _, s := range c.Commands() {
		out = append(out, documented(s)...)
	}
	return out
}

func pages(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ext))
	}
	sort.Strings(names)
	return names
}

func expectedPages(sep string) []string {
	var want []string
	for _, p := range documented(NewRootCmd(nil, nil, nil)) {
		want = append(want, strings.ReplaceAll(p, " ", sep))
	}
	sort.Strings(want)
	return want
}

// One manual page per command, each of which groff formats without a warning and which
// says what the command's --help says.
func TestDocsMan(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man1")
	code, out, errOut := run(t, nil, "docs", "man", "--out", dir)
	if code != 0 {
		t.Fatalf("docs man: exit %d\n%s%s", code, out, errOut)
	}
	want := expectedPages("-")
	if len(want) < 30 {
		t.Fatalf("only %d commands found: %v", len(want), want)
	}
	if d := cmp.Diff(want, pages(t, dir, ".1")); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}
	page, err := os.ReadFile(filepath.Join(dir, "kisgen-render.1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(page), "Auto generated") {
		t.Error("the page carries cobra's date-stamped auto-generated tag")
	}
	groff := testtool.Require(t, "groff", "groff-base")
	for _, name := range want {
		path := filepath.Join(dir, name+".1")
		// -k: the pages are UTF-8 (man-db runs preconv too); -Wbreak: a long line that
		// cannot be justified is cosmetic.
		cmd := exec.Command(groff, "-k", "-man", "-Tutf8", "-ww", "-Wbreak", path)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("groff %s: %v\n%s", name, err, stderr.String())
		}
		if name == "kisgen-render" && !strings.Contains(stdout.String(), "--format") {
			t.Errorf("kisgen-render(1) does not document --format:\n%s", stdout.String())
		}
	}
}

func TestDocsMarkdown(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := run(t, nil, "docs", "markdown", "--out", dir); code != 0 {
		t.Fatalf("docs markdown: exit %d\n%s%s", code, out, errOut)
	}
	if d := cmp.Diff(expectedPages("_"), pages(t, dir, ".md")); d != "" {
		t.Errorf("pages (-want +got):\n%s", d)
	}
	md, err := os.ReadFile(filepath.Join(dir, "kisgen_validate.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(md), "## kisgen validate\n") || !strings.Contains(string(md), "--strict") {
		t.Errorf("kisgen_validate.md does not document validate:\n%s", md)
	}
}

func TestDocsNeedsOut(t *testing.T) {
	code, _, errOut := run(t, nil, "docs", "man")
	if code != ExitUsage || !strings.Contains(errOut, "--out DIR") {
		t.Errorf("docs man without --out: exit %d, %q; want 2 naming --out", code, errOut)
	}
}
