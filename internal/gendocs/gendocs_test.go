package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreCurrent fails when types.go or plan.KismaticKeys changed without
// `go generate ./plan/...`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	outs, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range outs {
		have, err := os.ReadFile(filepath.Join(root, o.Path))
		if err != nil {
			t.Fatalf("%v: run `go generate ./plan/...`", err)
		}
		if string(have) != string(o.Data) {
			t.Errorf("%s is stale: run `go generate ./plan/...` and commit the result", o.Path)
		}
	}
}

func TestSchemaMistakesAreRefused(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"a field without a comment", "type Plan struct {\n\tName string `yaml:\"name\"`\n}\n", "no comment"},
		{"a field without a yaml tag", "type Plan struct {\n\t// The name.\n\tName string\n}\n", "no yaml tag"},
		{"a misspelt tag", "type Plan struct {\n\t// The name.\n\t// +defualt=x\n\tName string `yaml:\"name\"`\n}\n", `unknown tag "+defualt=x"`},
		{"a default without a value", "type Plan struct {\n\t// The name.\n\t// +default\n\tName string `yaml:\"name\"`\n}\n", `unknown tag "+default"`},
		{"no Plan type", "type Other struct {\n\t// The name.\n\tName string `yaml:\"name\"`\n}\n", "no Plan type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTypes([]byte("package v1alpha1\n\n" + tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestEveryFieldIsDocumented(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", TypesFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseTypes(src)
	if err != nil {
		t.Fatal(err)
	}
	md := string(renderMarkdown(s))
	for _, st := range s.order {
		if !strings.Contains(md, "\n## "+st.Name+"\n") {
			t.Errorf("docs have no section for %s", st.Name)
		}
		for _, f := range st.Fields {
			if !strings.Contains(md, "| `"+f.Key+"` |") {
				t.Errorf("docs do not list %s.%s", st.Name, f.Key)
			}
		}
	}
}
