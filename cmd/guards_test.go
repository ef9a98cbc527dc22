package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputNeverDestroysStateOrPlan: `render --out generated` deleted the state
// directory with the CA keys, `--out .` the plan and its SSH key, and `bundle pxe --out`
// did the same. Each is refused with a message naming the collision, and nothing is lost.
func TestOutputNeverDestroysStateOrPlan(t *testing.T) {
	planPath, assets := bundleFixture(t)
	dir := filepath.Dir(planPath)
	if code, out, errOut := run(t, nil, "certs", "issue", "-f", planPath); code != ExitOK {
		t.Fatalf("issue: exit %d\n%s%s", code, out, errOut)
	}
	precious := []string{filepath.Join(dir, "generated", "pki", "ca-key.pem"), planPath, filepath.Join(dir, "kismaticuser.key")}
	before := map[string]string{}
	for _, f := range precious {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		before[f] = string(data)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"render into the state directory", []string{"render", "-f", planPath, "--out", filepath.Join(dir, "generated")}, "the state directory"},
		{"render into the plan's directory", []string{"render", "-f", planPath, "--out", dir}, "contains"},
		{"render inside the state directory", []string{"render", "-f", planPath, "--out", filepath.Join(dir, "generated", "userdata")}, "lies inside"},
		{"render onto the SSH key", []string{"render", "-f", planPath, "--out", filepath.Join(dir, "kismaticuser.key")}, "the plan's SSH key"},
		{"bundle into the state directory", []string{"bundle", "pxe", "-f", planPath, "--out", filepath.Join(dir, "generated"), "--image-dir", assets}, "the state directory"},
		{"bundle into the plan's directory", []string{"bundle", "pxe", "-f", planPath, "--out", dir, "--image-dir", assets}, "contains"},
		{"bundle onto the user-data it reads", []string{"bundle", "pxe", "-f", planPath, "--out", filepath.Join(dir, "userdata"), "--image-dir", assets}, "the user-data the bundle is made from"},
		{"bundle into a directory of the user's", []string{"bundle", "pxe", "-f", planPath, "--out", assets, "--image-dir", assets}, "kisgen did not write it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, nil, tc.args...)
			if code != ExitFail || !strings.Contains(errOut, "refusing to replace the output directory") || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want 1 with a refusal saying %q\n%s%s", code, tc.want, out, errOut)
			}
		})
	}
	for _, f := range precious {
		if data, err := os.ReadFile(f); err != nil || string(data) != before[f] {
			t.Errorf("%s lost or changed: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(assets, "vmlinuz")); err != nil {
		t.Errorf("the user's directory was touched: %v", err)
	}
}

// TestTwoPlansInOneDirectory: rendering ha.yaml after minimal.yaml beside it reissued
// ha's certificates under minimal's CA in the shared generated/ and replaced minimal's
// userdata/. The second plan is refused, and the way out (--state, --out) works.
func TestTwoPlansInOneDirectory(t *testing.T) {
	minimal := planDir(t, "minimal.yaml")
	dir := filepath.Dir(minimal)
	data, err := os.ReadFile(filepath.Join("..", "examples", "ha.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ha := filepath.Join(dir, "ha.yaml")
	if err := os.WriteFile(ha, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, nil, "render", "-f", minimal); code != ExitOK {
		t.Fatalf("render minimal: exit %d\n%s%s", code, out, errOut)
	}
	manifest, _ := os.ReadFile(filepath.Join(dir, "userdata", "manifest.json"))

	code, out, errOut := run(t, nil, "render", "-f", ha)
	if code != ExitFail || !strings.Contains(errOut, `belongs to cluster "minimal"`) || !strings.Contains(errOut, "--state") || strings.Contains(out, "reissued") {
		t.Errorf("render ha into minimal's state: exit %d, want 1 with the way out\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "render", "-f", ha, "--state", filepath.Join(dir, "generated-production"))
	if code != ExitFail || !strings.Contains(errOut, `userdata of cluster "minimal"`) || !strings.Contains(errOut, "--out") {
		t.Errorf("render ha over minimal's userdata/: exit %d, want 1\n%s%s", code, out, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "userdata", "manifest.json")); string(after) != string(manifest) || len(after) == 0 {
		t.Error("minimal's userdata/ was replaced")
	}
	code, out, errOut = run(t, nil, "render", "-f", ha, "--state", filepath.Join(dir, "generated-production"), "--out", filepath.Join(dir, "userdata-production"))
	if code != ExitOK {
		t.Errorf("render ha with its own state and output: exit %d\n%s%s", code, out, errOut)
	}
	// certs list follows the same binding.
	if code, out, errOut := run(t, nil, "certs", "list", "-f", ha); code != ExitFail || !strings.Contains(errOut, `belongs to cluster "minimal"`) {
		t.Errorf("certs list -f ha.yaml on minimal's state: exit %d\n%s%s", code, out, errOut)
	}
}

// TestCertsListNeedsThePlan: `certs list -f missing.yaml` listed the certificates of
// whatever generated/ was beside the missing file.
func TestCertsListNeedsThePlan(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	if code, out, errOut := run(t, nil, "certs", "issue", "-f", path); code != ExitOK {
		t.Fatalf("issue: exit %d\n%s%s", code, out, errOut)
	}
	missing := filepath.Join(filepath.Dir(path), "missing.yaml")
	for _, cmd := range []string{"list", "check"} {
		code, out, errOut := run(t, nil, "certs", cmd, "-f", missing)
		if code != ExitFail || strings.Contains(out, "system:node") || !strings.Contains(errOut, "missing.yaml") {
			t.Errorf("certs %s -f missing.yaml: exit %d, want 1 naming the file and no list\n%s%s", cmd, code, out, errOut)
		}
	}
}

// TestRenderTightensTheSSHKey: a world-readable SSH key is reported and made 0600.
func TestRenderTightensTheSSHKey(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	key := filepath.Join(filepath.Dir(path), "kismaticuser.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, nil, "render", "-f", path)
	if code != ExitOK || !strings.Contains(errOut, "warning: "+key) || !strings.Contains(errOut, "made it 0600") {
		t.Errorf("exit %d, want 0 with a warning about %s\n%s%s", code, key, out, errOut)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode after render: %v %v", fi.Mode(), err)
	}
	if err := os.Chmod(filepath.Join(filepath.Dir(path), "generated", "pki", "ca-key.pem"), 0o640); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, nil, "certs", "list", "-f", path)
	if code != ExitOK || !strings.Contains(errOut, "ca-key.pem") || !strings.Contains(errOut, "rotate") {
		t.Errorf("certs list with an exposed CA key: exit %d\n%s%s", code, out, errOut)
	}
}
