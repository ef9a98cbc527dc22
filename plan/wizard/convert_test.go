package wizard

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// TestFromKismaticKeepsThePlan converts Kismatic plans and loads the result: it must be a
// kisgen document that means exactly what the Kismatic file meant.
func TestFromKismaticKeepsThePlan(t *testing.T) {
	for _, src := range []string{"../../examples/kismatic-v1.12.yaml", "../testdata/kismatic/older-keys.yaml", "../testdata/kismatic/release-v1.12.yaml",
		"../testdata/kismatic/complete-v1.12.yaml", "../testdata/kismatic/template-v1.12.yaml"} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			conv, err := FromKismatic(src, data, filepath.Join(filepath.Dir(src), "converted.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			out, rep := conv.Plan, conv.Report
			if rep.Count(report.Error) > 0 {
				t.Errorf("conversion errors: %v", rep.Findings)
			}
			if !strings.Contains(string(out), "\napiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\n") {
				t.Errorf("no kisgen header:\n%s", out)
			}
			before, _ := plan.Parse("p.yaml", data, plan.Options{})
			after, arep := plan.Parse("p.yaml", out, plan.Options{})
			if diff := cmp.Diff(before, after, modelOptions, cmpopts.IgnoreFields(plan.Plan{}, "SourceVersion")); diff != "" {
				t.Errorf("model (-kismatic +converted):\n%s", diff)
			}
			if after.SourceVersion != "kisgen.io/v1alpha1" {
				t.Errorf("converted plan read as %s", after.SourceVersion)
			}
			for _, f := range arep.Findings {
				if strings.Contains(f.Message, "deprecated") {
					t.Errorf("the converted plan still has deprecated keys: %s", f)
				}
			}
			if arep.Count(report.Error) > 0 {
				t.Errorf("the converted plan does not validate: %v", arep.Findings)
			}
		})
	}
}

// TestFromKismaticGolden converts Kismatic plans and compares the plan written and the
// change list printed with golden files; the complete v1.12 plan has every key.
func TestFromKismaticGolden(t *testing.T) {
	for _, name := range []string{"older-keys", "complete-v1.12"} {
		t.Run(name, func(t *testing.T) {
			_, conv := convertFixture(t, name)
			golden(t, "golden/"+name+"-converted.yaml", conv.Plan)
			var list bytes.Buffer
			if err := WriteChanges(&list, name+".yaml", conv.Changes); err != nil {
				t.Fatal(err)
			}
			golden(t, "golden/"+name+"-changes.txt", list.Bytes())
		})
	}
}

// TestFromKismaticChangesAreWhatChanged parses the converted complete plan back and checks
// each change against it: a value moved or mapped is at its new path with its new value,
// a dropped key is gone, and every key that is not in the list kept its value.
func TestFromKismaticChangesAreWhatChanged(t *testing.T) {
	data, conv := convertFixture(t, "complete-v1.12")
	before, after := scalars(t, data), scalars(t, conv.Plan)
	changed := map[string]bool{}
	for _, c := range conv.Changes {
		if c.Position.Line == 0 {
			t.Errorf("%s is not located", c)
		}
		for k := range before {
			if k == c.From || strings.HasPrefix(k, c.From+".") || strings.HasPrefix(k, c.From+"[") {
				changed[k] = true
			}
		}
		if c.To == "" {
			continue
		}
		changed[c.To] = true
		if zero := c.New == "false" || c.New == "0"; c.New != "" && after[c.To] != c.New && !(zero && after[c.To] == "") {
			t.Errorf("%s: the converted plan has %s: %q", c, c.To, after[c.To])
		}
	}
	for k, v := range before {
		if changed[k] || v == "" || v == "false" || v == "0" {
			continue // zero values are left out of the converted plan
		}
		if after[k] != v {
			t.Errorf("%s was %q and is %q, and no change says so", k, v, after[k])
		}
	}
}

// convertFixture converts the Kismatic plan testdata/kismatic/NAME.yaml of package plan.
func convertFixture(t *testing.T, name string) ([]byte, *Conversion) {
	t.Helper()
	src := "../testdata/kismatic/" + name + ".yaml"
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := FromKismatic(src, data, "../testdata/kismatic/converted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data, conv
}

// scalars maps the path of every scalar in a YAML document to its value; map keys under
// option_overrides, labels and the like are paths too.
func scalars(t *testing.T, data []byte) map[string]string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				child := n.Content[i].Value
				if path != "" {
					child = path + "." + child
				}
				walk(n.Content[i+1], child)
			}
		case yaml.SequenceNode:
			for i, item := range n.Content {
				walk(item, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.ScalarNode:
			out[path] = n.Value
		}
	}
	walk(&doc, "")
	return out
}

func TestFromKismaticMovesTheKeyPath(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "old", "kismatic-cluster.yaml")
	data := []byte("cluster: {name: k, ssh: {ssh_key: keys/id}}\netcd: {expected_count: 1, nodes: [{host: e, ip: 10.0.0.1}]}\n" +
		"master: {expected_count: 1, nodes: [{host: m, ip: 10.0.0.2}]}\nworker: {expected_count: 1, nodes: [{host: w, ip: 10.0.0.3}]}\n")
	for _, tt := range []struct{ dst, want string }{
		{filepath.Join(root, "old", "new.yaml"), "ssh_key: keys/id"},
		{filepath.Join(root, "kismatic-cluster.yaml"), "ssh_key: old/keys/id"},
		{filepath.Join(root, "elsewhere", "p.yaml"), "ssh_key: " + filepath.Join(root, "old", "keys", "id")},
	} {
		conv, err := FromKismatic(src, data, tt.dst)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(conv.Plan), tt.want) {
			t.Errorf("to %s: want %q in\n%s", tt.dst, tt.want, conv.Plan)
		}
		moved := false
		for _, c := range conv.Changes {
			if c.From == "cluster.ssh.ssh_key" && c.Old == "keys/id" && c.Position.Line == 1 {
				moved = true
			}
		}
		if moved != (tt.want != "ssh_key: keys/id") {
			t.Errorf("to %s: changes %v", tt.dst, conv.Changes)
		}
	}
}

func TestFromKismaticRefusesWhatItCannotConvert(t *testing.T) {
	for name, data := range map[string]string{
		"a kisgen plan": "apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\n",
		"unknown keys":  "cluster: {name: k, colour: blue}\n",
		"not YAML":      "cluster: [\n",
	} {
		t.Run(name, func(t *testing.T) {
			conv, err := FromKismatic("old.yaml", []byte(data), "new.yaml")
			if conv.Plan != nil || !errors.Is(err, ErrInvalidPlan) || conv.Report.Count(report.Error) == 0 {
				t.Fatalf("got %q, %v, %v", conv.Plan, err, conv.Report.Findings)
			}
		})
	}
}
