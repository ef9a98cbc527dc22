package wizard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// TestFromKismaticKeepsThePlan converts Kismatic plans and loads the result: it must be a
// kisgen document that means exactly what the Kismatic file meant.
func TestFromKismaticKeepsThePlan(t *testing.T) {
	for _, src := range []string{"../../examples/kismatic-v1.12.yaml", "../testdata/kismatic/older-keys.yaml", "../testdata/kismatic/release-v1.12.yaml"} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			out, rep, err := FromKismatic(src, data, filepath.Join(filepath.Dir(src), "converted.yaml"))
			if err != nil {
				t.Fatal(err)
			}
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
		})
	}
}

func TestFromKismaticGolden(t *testing.T) {
	src := "../testdata/kismatic/older-keys.yaml"
	data, _ := os.ReadFile(src)
	out, _, err := FromKismatic(src, data, "../testdata/kismatic/converted.yaml")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/older-keys-converted.yaml", out)
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
		out, _, err := FromKismatic(src, data, tt.dst)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), tt.want) {
			t.Errorf("to %s: want %q in\n%s", tt.dst, tt.want, out)
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
			out, rep, err := FromKismatic("old.yaml", []byte(data), "new.yaml")
			if out != nil || !errors.Is(err, ErrInvalidPlan) || rep.Count(report.Error) == 0 {
				t.Fatalf("got %q, %v, %v", out, err, rep.Findings)
			}
		})
	}
}
