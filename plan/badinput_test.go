package plan

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/report"
)

func readValid(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rules", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// aliasBomb nests anchors so that each level holds ten aliases of the one before: tiny
// on disk, 10^levels values once expanded.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "x%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// nodeBomb is an alias bomb the schema walk has to follow: a thousand aliases of a node
// whose taints are a thousand entries.
func nodeBomb() string {
	var b strings.Builder
	b.WriteString("apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\ncluster: {name: bomb}\nworker:\n  nodes:\n  - &n {host: w, ip: 10.0.0.1, taints: [")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "{key: k%d, effect: NoSchedule}", i)
	}
	b.WriteString("]}\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - *n\n")
	}
	return b.String()
}

func TestBadInputGetsAClearErrorNeverAPanic(t *testing.T) {
	garbage := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(garbage)
	tests := []struct {
		name       string
		data       []byte
		msg        string // the first error contains this
		line, col  int
		hasNoPlan  bool
		hintSubstr string
	}{
		{"empty file", nil, "the file is empty", 0, 0, true, "kisgen plan"},
		{"only whitespace", []byte(" \n\n\t\n"), "the file is empty", 0, 0, true, ""},
		{"only comments", []byte("# a plan\n# to come\n"), "only comments", 0, 0, true, "kisgen plan"},
		{"only a document marker", []byte("---\n"), "empty document", 2, 1, true, ""},
		{"not YAML", []byte("cluster: [unclosed\nworker: {\n"), "not valid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 1, column 10)", 2, 7, true, "YAML syntax"},
		{"tab indentation", []byte("cluster:\n\tname: x\n"), "not valid YAML", 2, 1, true, "tabs"},
		{"a key not indented like its siblings", []byte("cluster:\n  name: a\n bad: 1\n"), "not valid YAML: did not find expected key", 3, 2, true, "YAML syntax"},
		{"a mapping value after a value", []byte("cluster: a: b\n"), "not valid YAML: mapping values are not allowed", 1, 11, true, "YAML syntax"},
		{"a syntax error in the second document", []byte("cluster: {name: a}\n---\nx: [\n"), "not valid YAML", 4, 1, true, "YAML syntax"},
		{"a 100 MB file", bytes.Repeat([]byte("a"), 100<<20), "larger than 16 MiB", 0, 0, true, ""},
		{"binary garbage", garbage, "binary data at byte 1", 1, 2, true, "not an archive"},
		{"a NUL byte in text", []byte("cluster:\n  name: a\x00b\n"), "binary data at byte 18", 2, 10, true, ""},
		{"invalid UTF-8", []byte("cluster:\n  name: caf\xe9\n"), "not UTF-8 text", 2, 12, true, ""},
		{"gzip data", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"), "binary data at byte 1", 1, 2, true, ""},
		{"duplicate top-level keys", []byte("cluster: {name: a}\ncluster: {name: b}\n"), `duplicate key "cluster" (first at line 1, column 1)`, 2, 1, false, "keep one"},
		{"alias bomb under an unknown key", []byte(aliasBomb(9)), `unknown key "x0"`, 1, 1, false, ""},
		{"alias bomb the schema walk follows", []byte(nodeBomb()), "expands to more than 200000 YAML values", 7, 5, true, "aliases"},
		{"alias to an undefined anchor", []byte("cluster: *nothing\n"), "unknown anchor", 1, 10, true, "define the anchor (&nothing)"},
		{"multiple documents", []byte("cluster: {name: a}\n---\ncluster: {name: b}\n"), "more than one YAML document", 2, 1, true, "one plan per file"},
		{"top-level list", []byte("- cluster\n- etcd\n"), "got a list", 1, 1, true, "kisgen plan"},
		{"top-level scalar", []byte("kismatic-cluster.yaml\n"), `got "kismatic-cluster.yaml"`, 1, 1, true, ""},
		{"deep nesting", []byte(strings.Repeat("[", 20000)), "not valid YAML: exceeded max depth", 1, 10001, true, ""},
		{"apiVersion of another tool", []byte("apiVersion: v1\nkind: Pod\n"), `unsupported apiVersion "v1"`, 1, 13, true, "Kismatic"},
		{"apiVersion misspelt", []byte("apiVersion: kisgen.io/v1alpha2\nkind: ClusterPlan\n"), "unsupported apiVersion", 1, 13, true, `did you mean "kisgen.io/v1alpha1"`},
		{"apiVersion not a string", []byte("apiVersion: [kisgen.io/v1alpha1]\nkind: ClusterPlan\n"), "apiVersion must be a string", 1, 13, true, ""},
		{"kind without apiVersion", []byte("kind: ClusterPlan\ncluster: {name: a}\n"), "apiVersion is missing", 1, 7, true, "add `apiVersion"},
		{"apiVersion without kind", []byte("apiVersion: kisgen.io/v1alpha1\ncluster: {name: a}\n"), "kind is missing", 1, 13, true, ""},
		{"another kind", []byte("apiVersion: kisgen.io/v1alpha1\nkind: NodePlan\n"), `kind "NodePlan" is not a plan`, 2, 7, true, ""},
		{"a huge value", []byte("cluster:\n  name: " + strings.Repeat("x", 1<<20) + "\n"), "is not a DNS label", 2, 9, false, ""},
		{"a merge key with a scalar", []byte("cluster:\n  <<: 5\n"), "merge key", 2, 7, true, ""},
		{"old Mac line ends count as lines", []byte("apiVersion: kisgen.io/v1alpha1\rkind: ClusterPlan\rcluster:\r  name: Bad_Name\r"), "is not a DNS label", 4, 9, false, ""},
		{"a lone carriage return before a syntax error", []byte("\"0\r0"), "not valid YAML", 2, 2, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			p, rep := Parse("bad.yaml", tt.data, Options{})
			if p == nil != tt.hasNoPlan {
				t.Errorf("plan returned: %v, want %v", p != nil, !tt.hasNoPlan)
			}
			var first *report.Finding
			for i := range rep.Findings {
				if f := &rep.Findings[i]; f.Severity == report.Error && strings.Contains(f.Message, tt.msg) {
					first = f
					break
				}
			}
			if first == nil {
				t.Fatalf("no error containing %q in:\n%v", tt.msg, rep.Findings)
			}
			if first.Line != tt.line || first.Column != tt.col {
				t.Errorf("error at %d:%d, want %d:%d", first.Line, first.Column, tt.line, tt.col)
			}
			if first.File != "bad.yaml" {
				t.Errorf("error names file %q", first.File)
			}
			if !strings.Contains(first.Hint, tt.hintSubstr) {
				t.Errorf("hint %q does not contain %q", first.Hint, tt.hintSubstr)
			}
			for _, f := range rep.Findings {
				if len(f.Message) > 400 {
					t.Errorf("message of %d bytes: values quoted in messages must be shortened", len(f.Message))
				}
			}
			t.Logf("%s (%v)", first, time.Since(start))
		})
	}
}

func TestLoadRefusesAHugeFileWithoutReadingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kismatic-cluster.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // sparse: 100 MB of NULs
		t.Fatal(err)
	}
	f.Close()
	p, rep, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p != nil || rep.Count(report.Error) != 1 || !strings.Contains(rep.Findings[0].Message, "larger than") {
		t.Fatalf("got plan %v, findings %v", p != nil, rep.Findings)
	}
}

// endless is a reader that never ends (as /dev/zero or a FIFO fed forever), counting what
// was read from it.
type endless struct{ read int64 }

func (e *endless) Read(b []byte) (int, error) {
	clear(b)
	e.read += int64(len(b))
	return len(b), nil
}

func TestReadCappedStopsAtTheCap(t *testing.T) {
	r := &endless{}
	data, err := readCapped(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != MaxFileSize+1 || r.read != MaxFileSize+1 {
		t.Fatalf("kept %d bytes, read %d; want %d of each", len(data), r.read, MaxFileSize+1)
	}
	if _, rep := Parse("zero", data, Options{}); rep.Count(report.Error) != 1 || !strings.Contains(rep.Findings[0].Message, "larger than 16 MiB") {
		t.Fatalf("findings %v", rep.Findings)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "kisgen plan") {
		t.Errorf("missing file: %v, want ErrNotFound with a hint", err)
	}
	if _, _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestOtherLineEndingsAndByteOrderMarkAreAccepted(t *testing.T) {
	valid := readValid(t)
	for name, data := range map[string][]byte{
		"CRLF": bytes.ReplaceAll(valid, []byte("\n"), []byte("\r\n")),
		"BOM":  append([]byte("\xef\xbb\xbf"), valid...),
		"CR":   bytes.ReplaceAll(valid, []byte("\n"), []byte("\r")),
	} {
		t.Run(name, func(t *testing.T) {
			p, rep := Parse("plan.yaml", data, Options{})
			if p == nil || len(rep.Findings) != 0 {
				t.Fatalf("findings: %v", rep.Findings)
			}
			if p.Name != "test" || len(p.Nodes) != 6 {
				t.Errorf("got name %q and %d nodes", p.Name, len(p.Nodes))
			}
		})
	}
}

// TestControlCharactersInKeysAreEscapedInFindings: a quoted key may hold ESC and a
// newline; the YAML path of its finding must reach the terminal escaped.
func TestControlCharactersInKeysAreEscapedInFindings(t *testing.T) {
	data := append(readValid(t), []byte("\"\\e[2Jclu\\nster\": 1\n")...)
	_, rep := Parse("p.yaml", data, Options{})
	var b strings.Builder
	if err := rep.WriteText(&b, data); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\r") {
		t.Errorf("raw control characters in the output:\n%q", out)
	}
	if !strings.Contains(out, `: error: \x1b[2Jclu\nster: unknown key "\x1b[2Jclu\nster"`) {
		t.Errorf("the finding does not name the key escaped:\n%s", out)
	}
}
