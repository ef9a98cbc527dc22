package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/plan"
)

// docLine is a line of a shell code block in a Markdown file, or an inline code span.
type docLine struct {
	where string
	text  string
	block bool // a line of a fenced shell block (else an inline `span`)
}

var inlineCode = regexp.MustCompile("`([^`\n]+)`")

// shellBlocks are the fence languages whose lines are commands; a fence without a
// language holds output as often as commands, so only its "$ " lines count.
var shellBlocks = map[string]bool{"sh": true, "shell": true, "bash": true, "console": true}

// docLines returns the command lines of a Markdown document: every line of its shell code
// blocks (comments removed) and every inline code span outside them.
func docLines(name, doc string) []docLine {
	var out []docLine
	fence, lang := false, ""
	for i, line := range strings.Split(doc, "\n") {
		where := name + ":" + strconv.Itoa(i+1)
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			fence, lang = !fence, strings.TrimPrefix(trimmed, "```")
			continue
		}
		if !fence {
			for _, m := range inlineCode.FindAllStringSubmatch(line, -1) {
				out = append(out, docLine{where, m[1], false})
			}
			continue
		}
		cmd, prompt := strings.CutPrefix(trimmed, "$ ")
		if !shellBlocks[lang] && !prompt {
			continue
		}
		if i := strings.Index(cmd, "#"); i == 0 || i > 0 && cmd[i-1] == ' ' {
			cmd = cmd[:i]
		}
		out = append(out, docLine{where, cmd, true})
	}
	return out
}

// markdownDocs returns README.md and docs/*.md, by path relative to the repository.
func markdownDocs(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range append(files, filepath.Join("..", "README.md")) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel("..", f)
		out[filepath.ToSlash(rel)] = string(data)
	}
	return out
}

var makeTarget = regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+):`)

// makeInvocation matches "make TARGET..." where a command line starts.
var makeInvocation = regexp.MustCompile(`(?:^|&&|;)\s*make\s+([^;&|#]*)`)

// Every kisgen command line and make target in the README and docs/ exists: subcommands,
// flags (on the command they are given to) and Makefile targets.
func TestDocsNameRealCommands(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	mk, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range makeTarget.FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	checked := 0
	for name, doc := range markdownDocs(t) {
		for _, l := range docLines(name, doc) {
			for _, inv := range findInvocations(root, l.where, l.text, l.block || strings.HasPrefix(l.text, "kisgen ")) {
				checked++
				for _, e := range inv.check() {
					t.Error(e)
				}
			}
			for _, m := range makeInvocation.FindAllStringSubmatch(l.text, -1) {
				for _, w := range strings.Fields(m[1]) {
					if strings.HasPrefix(w, "-") || strings.Contains(w, "=") {
						continue
					}
					checked++
					if !targets[w] {
						t.Errorf("%s: `make %s`: the Makefile has no target %s", l.where, m[1], w)
					}
				}
			}
		}
	}
	// A parser that finds nothing passes everything: the docs hold well over 50 commands.
	if checked < 50 {
		t.Errorf("only %d command lines found in the docs", checked)
	}
}

// The plan-only commands of the README and docs/ run for real, in a directory holding a
// copy of examples/ and the minimal example as kismatic-cluster.yaml, with the SSH keys the
// plans name: each gets past its command line (no usage error) and finds the files it names.
func TestDocsPlanCommandsRun(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	var runs []invocation
	for name, doc := range markdownDocs(t) {
		for _, l := range docLines(name, doc) {
			if !l.block && !strings.HasPrefix(l.text, "kisgen ") {
				continue
			}
			for _, inv := range findInvocations(root, l.where, l.text, true) {
				if runnableInDocsTest(inv) {
					runs = append(runs, inv)
				}
			}
		}
	}
	if len(runs) < 3 {
		t.Fatalf("only %d runnable commands found in the docs: %v", len(runs), runs)
	}
	for _, inv := range runs {
		t.Run(inv.where, func(t *testing.T) {
			dir := t.TempDir()
			examples := filepath.Join(dir, "examples")
			if err := os.Mkdir(examples, 0o755); err != nil {
				t.Fatal(err)
			}
			src, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
			for _, f := range src {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(examples, filepath.Base(f)), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			writeKey(t, filepath.Join(examples, "kismaticuser.key"))
			// A command without -f reads kismatic-cluster.yaml here: the minimal example.
			minimal, err := os.ReadFile(filepath.Join(examples, "minimal.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "kismatic-cluster.yaml"), minimal, 0o644); err != nil {
				t.Fatal(err)
			}
			writeKey(t, filepath.Join(dir, "kismaticuser.key"))
			t.Chdir(dir)
			args := strings.Fields(strings.TrimPrefix(inv.text, "kisgen "))
			code, out, errOut := run(t, nil, args...)
			if code == ExitUsage || strings.Contains(errOut, "not found") {
				t.Errorf("`%s`: exit %d\n%s%s", inv.text, code, out, errOut)
			}
		})
	}
}

// runnableInDocsTest picks the commands that need nothing but a plan: validate, plan
// without questions, render, diff and the docs generators.
func runnableInDocsTest(inv invocation) bool {
	path := strings.TrimPrefix(inv.cmd.CommandPath(), "kisgen ")
	switch path {
	case "validate", "render", "diff":
		return !strings.Contains(inv.text, "%")
	case "plan":
		return strings.Contains(inv.text, "--non-interactive") || strings.Contains(inv.text, " -y")
	}
	return false
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} +(.+)$`)
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// slug is GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
func slug(heading string) string {
	return strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(strings.TrimSpace(heading)), ""), " ", "-")
}

// Every relative link in the README and docs/ points at a file that exists, and every
// #anchor at a heading of that file.
func TestDocsLinksResolve(t *testing.T) {
	docs := markdownDocs(t)
	links := 0
	for name, doc := range docs {
		for _, m := range mdLink.FindAllStringSubmatch(doc, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			file, anchor, _ := strings.Cut(target, "#")
			path := name
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(name), file))
			}
			data, err := os.ReadFile(filepath.Join("..", path))
			if err != nil {
				if _, serr := os.Stat(filepath.Join("..", path)); serr != nil {
					t.Errorf("%s: link %s: %v", name, target, serr)
				}
				continue
			}
			if anchor == "" {
				continue
			}
			found := false
			for _, h := range mdHeading.FindAllStringSubmatch(string(data), -1) {
				if slug(h[1]) == anchor {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: link %s: %s has no heading with that anchor", name, target, path)
			}
		}
	}
	if links < 10 {
		t.Errorf("only %d links found", links)
	}
}

// A pause image archive the README or the docs name is the one `kisgen mirror build
// --pause-image` writes: the default pause version, which changes with the defaults.
// (The README's commands list the archives with `--image-archives cluster`.)
func TestReadmePauseVersion(t *testing.T) {
	for name, text := range markdownDocs(t) {
		for _, m := range regexp.MustCompile(`pause-([0-9][0-9.]*[0-9])\.tar`).FindAllStringSubmatch(text, -1) {
			if m[1] != plan.DefaultPauseVersion {
				t.Errorf("%s names pause-%s.tar; mirror build --pause-image writes pause-%s.tar", name, m[1], plan.DefaultPauseVersion)
			}
		}
	}
}
