package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	invalid := func(t *testing.T) string {
		path := planDir(t, "minimal.yaml")
		data, _ := os.ReadFile(path)
		data = []byte(strings.Replace(string(data), "ip: 10.10.0.31", "ip: 10.10.0.11", 1))
		os.WriteFile(path, data, 0o644)
		return path
	}
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		code     int
		stdout   []string
		stderr   []string
		jsonWant *struct{ valid, errors, warnings int }
	}{
		{"a valid plan exits 0", func(t *testing.T) []string { return []string{"validate", "-f", planDir(t, "ha.yaml")} }, 0,
			[]string{"ha.yaml: valid: 8 nodes (3 etcd, 2 master, 3 worker)\n"}, nil, nil},
		{"warnings are printed and still valid", func(t *testing.T) []string { return []string{"validate", "-f", planDir(t, "minimal.yaml")} }, 0,
			[]string{"minimal.yaml:31:3: warning: etcd.nodes: a single etcd node is unsafe", "\n      - host: etcd1\n      ^\n", "valid (0 errors, 2 warnings)"}, nil, nil},
		{"--strict makes warnings fatal", func(t *testing.T) []string { return []string{"validate", "--strict", "-f", planDir(t, "minimal.yaml")} }, 1,
			[]string{"invalid (0 errors, 2 warnings)"}, nil, nil},
		{"errors exit 1 with file, line, column and path", func(t *testing.T) []string { return []string{"validate", "-f", invalid(t)} }, 1,
			[]string{"minimal.yaml:42:9: error: worker.nodes[0].ip: ip 10.10.0.11 is also used by etcd1 (etcd.nodes[0].ip)", "hint: give every node its own address", "invalid (1 error, 2 warnings)"}, nil, nil},
		{"-o json reports the findings", func(t *testing.T) []string { return []string{"validate", "-o", "json", "-f", invalid(t)} }, 1, nil, nil,
			&struct{ valid, errors, warnings int }{0, 1, 2}},
		{"-o json of a valid plan", func(t *testing.T) []string { return []string{"validate", "-o", "json", "-f", planDir(t, "ha.yaml")} }, 0, nil, nil,
			&struct{ valid, errors, warnings int }{1, 0, 0}},
		{"a Kismatic plan is read", func(t *testing.T) []string { return []string{"validate", "-f", planDir(t, "kismatic-v1.12.yaml")} }, 0,
			[]string{"master.load_balanced_fqdn: load_balanced_fqdn and load_balanced_short_name are deprecated"}, nil, nil},
		{"a missing plan exits 1 and says how to make one", func(t *testing.T) []string {
			return []string{"validate", "-f", filepath.Join(t.TempDir(), "nope.yaml")}
		}, 1, nil, []string{"plan file not found", "kisgen plan"}, nil},
		{"an unknown output format is a usage error", func(t *testing.T) []string { return []string{"validate", "-o", "yaml"} }, 2, nil, []string{`unknown output format "yaml"`}, nil},
		{"an unknown flag is a usage error", func(t *testing.T) []string { return []string{"validate", "--strcit"} }, 2, nil, []string{"unknown flag: --strcit"}, nil},
		{"an argument is a usage error", func(t *testing.T) []string { return []string{"validate", "plan.yaml"} }, 2, nil, []string{"unknown command"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, nil, tt.args(t)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if tt.jsonWant != nil {
				var got struct {
					Valid    bool `json:"valid"`
					Errors   int  `json:"errors"`
					Warnings int  `json:"warnings"`
					Findings []struct {
						Severity, File, Path, Message, Hint string
						Line, Column                        int
					} `json:"findings"`
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("%v:\n%s", err, out)
				}
				if got.Valid != (tt.jsonWant.valid == 1) || got.Errors != tt.jsonWant.errors || got.Warnings != tt.jsonWant.warnings || len(got.Findings) != got.Errors+got.Warnings {
					t.Errorf("got %+v", got)
				}
				for _, f := range got.Findings {
					if f.Severity == "" || f.File == "" || f.Path == "" || f.Line == 0 || f.Column == 0 || f.Message == "" || f.Hint == "" {
						t.Errorf("incomplete finding %+v", f)
					}
				}
			}
		})
	}
}

// A valid plan's topology follows the summary, as text and in -o json; an invalid plan
// has none.
func TestValidatePrintsTopology(t *testing.T) {
	path := planDir(t, "ha.yaml")
	code, out, _ := run(t, nil, "validate", "-f", path)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, s := range []string{"ROLES   HOST", "worker  worker2  10.10.0.32", "example.com/gpu=true",
		"api server: https://10.10.0.20:6443, load-balanced to 2 master(s): 10.10.0.21:6443 10.10.0.22:6443",
		"pod range:  172.16.0.0/16 (Calico): 1024 blocks of 64 addresses"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	_, out, _ = run(t, nil, "validate", "-o", "json", "-f", path)
	var doc struct {
		Valid    bool
		Topology *struct {
			Nodes []struct{ Host string }
			Pods  struct{ Blocks int } `json:"pod_range"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if doc.Topology == nil || len(doc.Topology.Nodes) != 8 || doc.Topology.Pods.Blocks != 1024 {
		t.Errorf("json topology = %+v, want 8 nodes and 1024 blocks:\n%s", doc.Topology, out)
	}

	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "ip: 10.10.0.33", "ip: 10.10.0.11", 1)), 0o644)
	code, out, _ = run(t, nil, "validate", "-f", path)
	if code != 1 || strings.Contains(out, "api server:") {
		t.Errorf("an invalid plan: exit %d, want 1 and no topology:\n%s", code, out)
	}
	_, out, _ = run(t, nil, "validate", "-o", "json", "-f", path)
	if strings.Contains(out, `"topology"`) {
		t.Errorf("an invalid plan's json has a topology:\n%s", out)
	}
}
