package roles_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

// containerdBinaries builds (or reuses) containerd of the default version in the
// repository's binary cache.
func containerdBinaries(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds containerd from the Go module proxy when it is not cached yet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	dir, err := binbuild.Containerd(ctx, plan.DefaultContainerdVersion, filepath.Join(rendertest.RepoRoot(t), ".cache", "bin"), testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// effective reads `containerd config dump` into section → key → value: what containerd
// makes of a configuration after migrating it to its current version.
func effective(t *testing.T, containerd, config string) map[string]map[string]string {
	t.Helper()
	out, err := exec.Command(containerd, "--config", config, "config", "dump").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("containerd config dump: %v\n%s", err, stderr)
	}
	sections := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if k, v, ok := strings.Cut(line, " = "); ok {
			if sections[section] == nil {
				sections[section] = map[string]string{}
			}
			sections[section][k] = v
		}
	}
	return sections
}

// TestContainerdReadsTheConfiguration runs the containerd release the plan pins on the
// configuration a node gets: every setting kisgen makes must be where containerd 2 reads
// it (a wrong plugin id is silently ignored, which would leave pods without the systemd
// cgroup driver or the pinned runc), and, as root, containerd must start with it and load
// its CRI plugins.
func TestContainerdReadsTheConfiguration(t *testing.T) {
	dir := containerdBinaries(t)
	_, nodes := model(t, "minimal.yaml")
	config := filepath.Join(t.TempDir(), "config.toml")
	writeFile(t, config, file(t, nodes["worker1"], roles.ContainerdConfigPath).Content, 0o644)
	runtime := "plugins.'io.containerd.cri.v1.runtime'"
	want := map[string]map[string]string{
		"plugins.'io.containerd.cri.v1.images'.pinned_images": {"sandbox": "'registry.k8s.io/pause:3.10.1'"},
		"plugins.'io.containerd.cri.v1.images'.registry":      {"config_path": "'" + roles.ContainerdCertsDir + "'"},
		runtime + ".containerd":                               {"default_runtime_name": "'runc'"},
		runtime + ".containerd.runtimes.runc":                 {"runtime_type": "'io.containerd.runc.v2'"},
		runtime + ".containerd.runtimes.runc.options":         {"BinaryName": "'" + roles.BinDir + "/runc'", "SystemdCgroup": "true"},
		runtime + ".cni":                                      {"bin_dirs": "['" + roles.CNIBinDir + "']", "conf_dir": "'" + roles.CNIConfDir + "'"},
	}
	check := func(got map[string]map[string]string) (missing []string) {
		for sec, kv := range want {
			for k, v := range kv {
				if got[sec][k] != v {
					missing = append(missing, sec+" "+k+" = "+v+" (got "+got[sec][k]+")")
				}
			}
		}
		return missing
	}
	if missing := check(effective(t, filepath.Join(dir, "containerd"), config)); len(missing) > 0 {
		t.Errorf("containerd does not read kisgen's settings where kisgen writes them:\n%s", strings.Join(missing, "\n"))
	}
	t.Run("negative control: containerd 1.x plugin ids are not read", func(t *testing.T) {
		old := filepath.Join(t.TempDir(), "config.toml")
		writeFile(t, old, "version = 3\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n", 0o644)
		if missing := check(effective(t, filepath.Join(dir, "containerd"), old)); len(missing) == 0 {
			t.Error("the check passed a configuration that sets nothing where containerd 2 reads it")
		}
	})
	t.Run("containerd starts with it and loads its CRI plugins", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("starting containerd needs root")
		}
		// A short unix socket path: sockaddr_un holds 108 bytes.
		tmp, err := os.MkdirTemp("", "ctrd")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		sock := filepath.Join(tmp, "c.sock")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(dir, "containerd"), "--config", config,
			"--root", filepath.Join(tmp, "root"), "--state", filepath.Join(tmp, "state"), "--address", sock)
		var log strings.Builder
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		var plugins string
		for range 60 {
			out, err := exec.Command(filepath.Join(dir, "ctr"), "--address", sock, "plugins", "ls").CombinedOutput()
			if err == nil {
				plugins = string(out)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		for _, want := range [][2]string{{"io.containerd.cri.v1", "images"}, {"io.containerd.cri.v1", "runtime"}, {"io.containerd.grpc.v1", "cri"}} {
			found := false
			for _, line := range strings.Split(plugins, "\n") {
				f := strings.Fields(line)
				found = found || len(f) >= 3 && f[0] == want[0] && f[1] == want[1] && f[len(f)-1] == "ok"
			}
			if !found {
				t.Errorf("plugin %s %s is not loaded:\n%s\ncontainerd's log:\n%s", want[0], want[1], plugins, log.String())
			}
		}
	})
}
