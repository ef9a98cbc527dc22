package verify

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/kisgen/kisgen/verify/sshdtest"
)

// TestFirstBootReadsRealCloudInit runs the real `cloud-init status --format json` on the
// fixture node, pointed by CLOUD_CFG at a run directory holding status.json and
// result.json as cloud-init writes them, to prove the check reads the real tool.
func TestFirstBootReadsRealCloudInit(t *testing.T) {
	testtool.Require(t, "cloud-init", "cloud-init")
	const ds = `"datasource": "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]"`
	stage := func(errs string) string {
		return `{"errors": [` + errs + `], "finished": 1764000010.0, "start": 1764000004.0}`
	}
	cases := []struct {
		name   string
		status string
		result string // "" leaves result.json out: cloud-init is still running
		want   Status
		detail string
	}{
		{"done", `{"v1": {` + ds + `, "init": ` + stage("") + `, "modules-final": ` + stage("") + `, "stage": null}}`,
			`{"v1": {` + ds + `, "errors": []}}`, Pass, "cloud-init done (datasource nocloud)"},
		{"error", `{"v1": {` + ds + `, "init": ` + stage("") + `, "modules-final": ` + stage(`"('scripts_user', RuntimeError('Runparts: 1 failures (part-001) in 1 attempted commands'))"`) + `, "stage": null}}`,
			`{"v1": {` + ds + `, "errors": ["('scripts_user', RuntimeError('Runparts: 1 failures'))"]}}`, Fail, "cloud-init failed: ('scripts_user', RuntimeError('Runparts: 1 failures (part-001)"},
		{"running", `{"v1": {` + ds + `, "init": ` + stage("") + `, "modules-final": {"errors": [], "finished": null, "start": 1764000004.0}, "stage": "modules-final"}}`,
			"", Fail, "still running (Running in stage: modules-final)"},
	}
	signer := sshdtest.NewSigner(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "cloud.cfg")
			f := newFixtureNode(t, "etcd1", signer, fixtureOptions{omit: []string{"cloud-init"}, env: map[string]string{"CLOUD_CFG": cfg}})
			writeFile(t, cfg, "system_info:\n  paths:\n    cloud_dir: "+filepath.Join(dir, "lib")+"\n    run_dir: "+filepath.Join(dir, "run")+"\n")
			writeFile(t, filepath.Join(dir, "run", "status.json"), tc.status)
			if tc.result != "" {
				writeFile(t, filepath.Join(dir, "run", "result.json"), tc.result)
			}
			n := runTarget(t, f.target, quick)
			c := result(t, n, "first-boot")
			if c.Status != tc.want || !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("first-boot: %s %q, want %s with %q", c.Status, c.Detail, tc.want, tc.detail)
			}
		})
	}
}
