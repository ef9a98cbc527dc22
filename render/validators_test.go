package render_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	ign33 "github.com/coreos/ignition/v2/config/v3_3"
	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/roles"
)

// TestCloudInitSchema validates every node's cloud-init user-data of every example with
// Debian's `cloud-init schema` (it does not flag unknown top-level keys: the parse-back
// test covers those).
func TestCloudInitSchema(t *testing.T) {
	ci := testtool.Require(t, "cloud-init", "cloud-init")
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			t.Parallel()
			_, res := renderCase(t, plan.FormatCloudInit, ex)
			dir := t.TempDir()
			for _, n := range res.Nodes {
				path := filepath.Join(dir, n.File)
				if err := os.WriteFile(path, n.Data, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(ci, "schema", "--config-file", path).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "Valid cloud-config") {
					t.Errorf("cloud-init schema %s: %v\n%s", n.File, err, out)
				}
			}
		})
	}
	t.Run("the validator catches a broken document", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		_ = os.WriteFile(path, []byte("#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 644\n    colour: red\n"), 0o600)
		if out, err := exec.Command(ci, "schema", "--config-file", path).CombinedOutput(); err == nil {
			t.Errorf("cloud-init schema accepted a broken document:\n%s", out)
		}
	})
}

// unitRoot is a root for `systemd-analyze verify --root`: this machine's systemd units,
// and a stub for every command the units run.
func unitRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd")+"/").CombinedOutput(); err != nil {
		if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err = exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd")+"/").CombinedOutput(); err != nil {
			t.Fatalf("copy /usr/lib/systemd/system: %v\n%s", err, out)
		}
	}
	for _, dir := range []string{"etc/systemd/system", roles.BinDir[1:], "sbin"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestUnitsPassSystemdAnalyze verifies every distinct unit of every example with
// `systemd-analyze verify`: unknown keys, bad values, relative or missing executables.
func TestUnitsPassSystemdAnalyze(t *testing.T) {
	sa := testtool.Require(t, "systemd-analyze", "systemd")
	root := unitRoot(t)
	units := map[string]string{} // file name → content, distinct contents numbered
	execs := map[string]bool{}
	for _, ex := range examples {
		_, res := renderCase(t, "", ex)
		for _, n := range res.Nodes {
			for _, u := range n.Model.Units {
				key := u.Name
				for i := 2; units[key] != "" && units[key] != u.Content; i++ {
					key = fmt.Sprintf("%s-%d.%s", strings.TrimSuffix(u.Name, filepath.Ext(u.Name)), i, strings.TrimPrefix(filepath.Ext(u.Name), "."))
				}
				units[key] = u.Content
				for _, l := range strings.Split(u.Content, "\n") {
					if rest, ok := strings.CutPrefix(l, "ExecStart="); ok {
						execs[strings.Fields(strings.TrimPrefix(rest, "-"))[0]] = true
					}
					for _, key := range []string{"ExecStartPre=", "ExecReload="} {
						if rest, ok := strings.CutPrefix(l, key); ok {
							execs[strings.Fields(strings.TrimPrefix(rest, "-"))[0]] = true
						}
					}
				}
			}
		}
	}
	for e := range execs {
		if !filepath.IsAbs(e) {
			t.Errorf("unit command %s is not absolute", e)
			continue
		}
		// The distribution's own programs (haproxy, keepalived, sh) have stand-ins too.
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, e)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, e), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for name, content := range units {
		if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) < 10 {
		t.Fatalf("only %d units: %v", len(names), names)
	}
	verify := func(names ...string) (string, error) {
		cmd := exec.Command(sa, append([]string{"verify", "--man=no", "--root=" + root}, names...)...)
		cmd.Dir = filepath.Join(root, "etc/systemd/system")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	// systemd-analyze warns about unknown keys without failing: any output is a finding.
	if out, err := verify(names...); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify %v: %v\n%s", names, err, out)
	}
	t.Run("the validator catches a broken unit", func(t *testing.T) {
		bad := strings.Replace(units["kubelet.service"], "Restart=always", "Restart=sometimes\nColour=red", 1)
		_ = os.WriteFile(filepath.Join(root, "etc/systemd/system", "bad.service"), []byte(bad), 0o644)
		if out, _ := verify("bad.service"); !strings.Contains(out, "sometimes") || !strings.Contains(out, "Colour") {
			t.Errorf("systemd-analyze did not report the broken unit:\n%s", out)
		}
	})
}

// TestIgnitionAppliesLikeCloudInit applies every node's Ignition config with the real
// `ignition` binary (stages fetch-offline and files into a temporary root) and compares
// what it wrote with what the cloud-init user-data of the same node writes.
//
// Debian's ignition is 2.14, which reads configs up to spec 3.3.0; kisgen writes 3.4.0.
// The test proves the config uses nothing 3.4-specific by parsing it as 3.3.0 in-process
// (ignition's v3_3 parser) after changing only the version, then applies that.
func TestIgnitionAppliesLikeCloudInit(t *testing.T) {
	ign := "/usr/lib/dracut/modules.d/30ignition/ignition"
	if _, err := os.Stat(ign); err != nil {
		ign = testtool.Require(t, "ignition", "ignition")
	}
	// ignition's files stage creates users and chowns files: it needs root (or sudo).
	var asRoot []string
	if os.Geteuid() != 0 {
		if err := exec.Command("sudo", "-n", "true").Run(); err != nil {
			testtool.Missing(t, "ignition's files stage needs root or passwordless sudo")
		}
		asRoot = []string{"sudo", "-n", "--preserve-env=IGNITION_CONFIG_FILE,PATH"}
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			_, igns := renderCase(t, plan.FormatIgnition, ex)
			for i, n := range igns.Nodes {
				cloud, err := render.CloudInit(n.Model, strings.Contains(string(igns.Nodes[i].Data), "hosts.block"))
				if err != nil {
					t.Fatal(err)
				}
				c, err := render.ParseCloudConfig(cloud)
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]written{}
				for _, w := range c.WriteFiles {
					var mode fs.FileMode
					fmt.Sscanf(w.Permissions, "%o", &mode)
					want[w.Path] = written{mode, w.Content}
				}
				root := applyIgnition(t, asRoot, ign, n.Data)
				got := map[string]written{}
				for path := range want {
					data, err := os.ReadFile(filepath.Join(root, path))
					if err != nil {
						t.Errorf("%s: ignition did not write %s: %v", n.Host, path, err)
						continue
					}
					st, _ := os.Stat(filepath.Join(root, path))
					got[path] = written{st.Mode().Perm(), string(data)}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: files written by ignition (-cloud-init +ignition):\n%s", n.Host, diff)
				}
				preset, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system-preset/20-ignition.preset"))
				if !strings.Contains(string(preset), "enable kisgen-install.service") {
					t.Errorf("%s: kisgen-install.service is not enabled by ignition:\n%s", n.Host, preset)
				}
				keys, _ := os.ReadFile(filepath.Join(root, "home", n.Model.Users[0].Name, ".ssh/authorized_keys.d/ignition"))
				if !strings.Contains(string(keys), n.Model.Users[0].SSHAuthorizedKeys[0]) {
					t.Errorf("%s: ignition did not install the SSH user's key", n.Host)
				}
			}
		})
	}
}

// applyIgnition runs ignition's fetch-offline and files stages for a config into a new
// root and returns the root.
func applyIgnition(t *testing.T, asRoot []string, ign string, config []byte) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kisgen-ignition-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// the files stage leaves root-owned files behind
		if err := exec.Command(append(asRoot, "rm", "-rf", dir)[0], append(asRoot, "rm", "-rf", dir)[1:]...).Run(); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	// ignition writes the user's authorized keys as that user: the path must be searchable.
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	root := filepath.Join(dir, "root")
	var cfg map[string]any
	if err := json.Unmarshal(config, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["ignition"].(map[string]any)["version"] = "3.3.0"
	v33, _ := json.Marshal(cfg)
	if _, rep, err := ign33.Parse(v33); err != nil || len(rep.Entries) > 0 {
		t.Fatalf("the config needs Ignition 3.4 features: %v %s", err, rep)
	}
	files := map[string]string{
		"cfg.ign":                 string(v33),
		"root/etc/selinux/config": "SELINUX=disabled\nSELINUXTYPE=targeted\n",
		"bin/setfiles":            "#!/bin/sh\nexit 0\n",
		"root/etc/passwd":         "root:x:0:0:root:/root:/bin/bash\n",
		"root/etc/group":          "root:x:0:\n",
		"root/etc/shadow":         "root:*:19000:0:99999:7:::\n",
		"root/etc/gshadow":        "root:*::\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) {
		argv := append(append(append([]string(nil), asRoot...), ign), append(args, "-platform", "file", "-log-to-stdout",
			"-config-cache", filepath.Join(dir, "ignition.json"), "-state-file", filepath.Join(dir, "state"))...)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "IGNITION_CONFIG_FILE="+filepath.Join(dir, "cfg.ign"), "PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ignition %v: %v\n%s", args, err, out)
		}
	}
	run("-stage", "fetch-offline", "-neednet", filepath.Join(dir, "neednet"))
	run("-stage", "files", "-root", root)
	return root
}
