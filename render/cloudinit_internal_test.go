package render

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/kisgen/kisgen/render/rendertest"
)

// yamlEntry is a write_files entry as yaml.v3 writes it in a top-level list.
func yamlEntry(t *testing.T, w WriteFile) []byte {
	t.Helper()
	doc, err := encodeYAML("", &struct {
		WriteFiles []WriteFile `yaml:"write_files"`
	}{[]WriteFile{w}})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimPrefix(doc, []byte("write_files:\n"))
}

// TestLiteralEntryIsYAMLs: wherever literalEntry writes an entry itself, it writes what
// yaml.v3 writes, for every file and unit of the examples' nodes and for content on the
// edge of what a literal block may hold; and it declines what it cannot write.
func TestLiteralEntryIsYAMLs(t *testing.T) {
	var corpus []WriteFile
	for _, c := range []string{
		"one line\n", "a\n\nb\n", "  leading space\n", "trailing space \nx\n", "no final break", "two breaks\n\n",
		"\n", "tab\there\n", "x\n   \ny\n", "# comment\n---\n...\n", "key: value\n- item\n", "é\n", "'quoted' \"double\"\n",
		"a\n  indented\n\tx\n", "true\n", "x\r\n", "- a\n", "|\n", "  \n",
	} {
		corpus = append(corpus, WriteFile{Path: "/etc/x", Permissions: "0644", Owner: "root:root", Content: c})
	}
	for _, path := range []string{"/etc/a b", "/etc/x:", "relative", "/etc/#x", "/etc/x.d/y-z_1"} {
		corpus = append(corpus, WriteFile{Path: path, Permissions: "0600", Owner: "root:root", Content: "x\n"})
	}
	corpus = append(corpus, WriteFile{Path: "/etc/x", Permissions: "0644", Owner: "1:2", Content: "x\n"},
		WriteFile{Path: "/etc/x", Permissions: "644", Owner: "root:root", Content: "x\n"})
	for _, example := range []string{"minimal.yaml", "ha.yaml"} {
		nodes, _ := rendertest.Models(t, rendertest.ExamplePlan(t, example))
		for _, m := range nodes {
			corpus = append(corpus, entries(m)...)
		}
	}
	fast := 0
	for i, w := range corpus {
		got, ok := literalEntry(w)
		if !ok {
			continue
		}
		fast++
		if want := yamlEntry(t, w); !bytes.Equal(got, want) {
			t.Errorf("entry %d (%s, %q): literalEntry wrote\n%s\nyaml.v3 writes\n%s", i, w.Path, fmt.Sprintf("%.40s", w.Content), got, want)
		}
	}
	if fast < len(corpus)/2 {
		t.Errorf("literalEntry wrote only %d of %d entries", fast, len(corpus))
	}
}
