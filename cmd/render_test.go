package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/render/rendertest"
)

func runKisgen(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Execute(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// readDir returns every file of dir by name.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(data)
	}
	return out
}

func TestRenderCommandWritesUserDataManifestAndRecord(t *testing.T) {
	plan := rendertest.WritePlan(t, rendertest.Example(t, "minimal.yaml"))
	dir := filepath.Dir(plan)
	code, out, errOut := runKisgen("render", "-f", plan)
	if code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	files := readDir(t, filepath.Join(dir, "userdata"))
	for _, name := range []string{"etcd1.yaml", "master1.yaml", "worker1.yaml", "manifest.json"} {
		if files[name] == "" {
			t.Errorf("no %s in the output: %v", name, out)
		}
	}
	var m render.Manifest
	if err := json.Unmarshal([]byte(files["manifest.json"]), &m); err != nil || len(m.Nodes) != 3 {
		t.Errorf("manifest: %v %+v", err, m)
	}
	for _, want := range []string{"generated: ", "created", "master1", "GZIP", "wrote 3 nodes' user-data"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// kisgen knows the sum of the default Calico version's manifest (plan.KnownSHA256)
	if strings.Contains(errOut, "warning: calico-manifest") {
		t.Errorf("the Calico manifest is warned about although its sum is pinned:\n%s", errOut)
	}
	if _, err := os.Stat(render.RecordPath(filepath.Join(dir, "generated"))); err != nil {
		t.Errorf("no render record: %v", err)
	}

	t.Run("a second render is byte-identical and reissues nothing", func(t *testing.T) {
		code, out, errOut := runKisgen("render", "-f", plan)
		if code != ExitOK || !strings.Contains(out, "up to date") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		again := readDir(t, filepath.Join(dir, "userdata"))
		for name, content := range files {
			if again[name] != content {
				t.Errorf("%s changed between two renders of the same plan", name)
			}
		}
	})

	t.Run("--format ignition writes .ign files", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "ign")
		if code, o, e := runKisgen("render", "-f", plan, "--out", out, "--format", "ignition"); code != ExitOK {
			t.Fatalf("exit %d\n%s%s", code, o, e)
		}
		if _, ok := readDir(t, out)["worker1.ign"]; !ok {
			t.Error("no worker1.ign")
		}
	})
}

func TestFailedRenderLeavesTheLastOutput(t *testing.T) {
	text := string(rendertest.Example(t, "ha.yaml"))
	plan := rendertest.WritePlan(t, []byte(text))
	out := filepath.Join(filepath.Dir(plan), "userdata")
	if code, o, e := runKisgen("render", "-f", plan); code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
	before := readDir(t, out)

	tests := []struct {
		name    string
		edits   []string // old, new, …
		message string
	}{
		{"an invalid plan writes nothing", []string{"  name: production\n", "  name: Production_Cluster\n"}, "is not a DNS label"},
		// An AWS plan has no virtual IP (a VPC ignores VRRP), and names the load
		// balancer provision creates by a DNS name.
		{"a node over the provider's budget writes nothing", []string{"  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n",
			"  virtual_ip: 10.10.0.20\n", "", "load_balancer: 10.10.0.20:6443", "load_balancer: kubernetes.example.com:6443"}, "master1: cloud-init user-data is"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			edited := text
			for i := 0; i < len(tc.edits); i += 2 {
				if !strings.Contains(edited, tc.edits[i]) {
					t.Fatalf("examples/ha.yaml has no %q", tc.edits[i])
				}
				edited = strings.Replace(edited, tc.edits[i], tc.edits[i+1], 1)
			}
			if err := os.WriteFile(plan, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			code, o, e := runKisgen("render", "-f", plan)
			if code != ExitFail || !strings.Contains(o+e, tc.message) {
				t.Fatalf("exit %d, want 1 with %q\n%s%s", code, tc.message, o, e)
			}
			after := readDir(t, out)
			if len(after) != len(before) {
				t.Fatalf("output changed: %d files, was %d", len(after), len(before))
			}
			for name, content := range before {
				if after[name] != content {
					t.Errorf("%s changed although the render failed", name)
				}
			}
		})
	}
	t.Run("an invalid plan rendered for the first time creates no output", func(t *testing.T) {
		p := rendertest.WritePlan(t, []byte(strings.Replace(text, "  name: production\n", "  name: Production_Cluster\n", 1)))
		if code, _, _ := runKisgen("render", "-f", p); code != ExitFail {
			t.Fatalf("exit %d, want 1", code)
		}
		for _, d := range []string{"userdata", "generated"} {
			if _, err := os.Stat(filepath.Join(filepath.Dir(p), d)); err == nil {
				t.Errorf("%s was created for an invalid plan", d)
			}
		}
	})
}

func TestDiffCommand(t *testing.T) {
	text := string(rendertest.Example(t, "ha.yaml"))
	plan := rendertest.WritePlan(t, []byte(text))

	if code, o, e := runKisgen("diff", "-f", plan); code != ExitFail || !strings.Contains(e, "kisgen render") {
		t.Fatalf("diff before any render: exit %d, want 1 telling to render first\n%s%s", code, o, e)
	}
	if code, o, e := runKisgen("render", "-f", plan); code != ExitOK {
		t.Fatalf("exit %d\n%s%s", code, o, e)
	}
	if code, o, e := runKisgen("diff", "-f", plan, "--exit-code"); code != ExitOK || !strings.Contains(o, "no node's user-data would change") {
		t.Fatalf("unchanged plan: exit %d\n%s%s", code, o, e)
	}
	changed := strings.Replace(text, "    ip: 10.10.0.32\n", "    ip: 10.10.0.32\n    kubelet:\n      option_overrides:\n        max-pods: \"200\"\n", 1)
	if err := os.WriteFile(plan, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, o, e := runKisgen("diff", "-f", plan, "--exit-code")
	if code != ExitFail || !strings.Contains(o, "1 of 8 nodes' user-data would change") || !strings.Contains(o, "worker2: unit kubelet.service changed (+--max-pods=200)") {
		t.Fatalf("exit %d, want 1 naming worker2\n%s%s", code, o, e)
	}
	if code, o, _ := runKisgen("diff", "-f", plan); code != ExitOK || !strings.Contains(o, "worker2") {
		t.Errorf("without --exit-code: exit %d\n%s", code, o)
	}
	code, o, e = runKisgen("diff", "-f", plan, "-o", "json")
	var changes []render.NodeChange
	if code != ExitOK || json.Unmarshal([]byte(o), &changes) != nil || len(changes) != 1 || changes[0].Host != "worker2" {
		t.Errorf("json: exit %d %+v\n%s%s", code, changes, o, e)
	}
	// diff writes nothing: the state directory and the record are as render left them.
	if code, o, e := runKisgen("diff", "-f", plan, "--exit-code"); code != ExitFail {
		t.Errorf("a second diff does not see the same change: exit %d\n%s%s", code, o, e)
	}
}

func TestRenderAndDiffUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"render", "--format", "xml"}, {"diff", "--format", "xml"}, {"diff", "-o", "yaml"}, {"render", "extra"}} {
		if code, _, _ := runKisgen(args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
}
