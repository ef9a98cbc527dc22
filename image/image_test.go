package image

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/roles"
)

// TestPackagesMatchBakeScript proves the Go side reads the same package list the script
// installs on a live machine, and that it holds what a kisgen node needs.
func TestPackagesMatchBakeScript(t *testing.T) {
	script := filepath.Join(t.TempDir(), "bake.sh")
	if err := os.WriteFile(script, BakeScript, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", script, "--packages").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), strings.Join(Packages(), ","); got != want {
		t.Errorf("bake.sh --packages = %q\nPackages() = %q", got, want)
	}
	have := map[string]bool{}
	for _, p := range Packages() {
		have[p] = true
	}
	for _, need := range []string{"linux-image-cloud-amd64", "systemd", "cloud-init", "openssh-server", "sudo", "conntrack",
		"iptables", "socat", "ethtool", "iproute2", "curl", "ca-certificates", "kmod"} {
		if !have[need] {
			t.Errorf("package %s missing from the bake script", need)
		}
	}
	// Debian 12's containerd 1.6 and runc 1.1 are past their support: nodes run the
	// releases the plan pins, never the distribution's.
	for _, old := range []string{"containerd", "runc", "containernetworking-plugins", "crun"} {
		if have[old] {
			t.Errorf("the bake script installs the distribution's %s", old)
		}
	}
}

// TestBakeScriptCustomisesARoot runs the bake script's --root mode (the mmdebstrap
// customize step) on a skeleton root and checks what it leaves; the manifest must be
// readable by the node's bootstrap (roles.ParseImageManifest).
func TestBakeScriptCustomisesARoot(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "bake.sh")
	root := filepath.Join(dir, "root")
	for _, d := range []string{"usr/lib/cni", "etc/ssh", "var/lib/dbus"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"usr/lib/cni/bridge": "plugin", "usr/lib/cni/host-local": "plugin",
		"etc/ssh/ssh_host_ed25519_key": "secret", "etc/machine-id": "0123456789abcdef\n", "var/lib/dbus/machine-id": "x",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(script, BakeScript, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", script, "--root", root)
	cmd.Env = append(os.Environ(), "KISGEN_OS=debian-12", "KISGEN_DATASOURCES=NoCloud, None")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bake.sh --root: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return string(b)
	}
	if _, err := os.Lstat(filepath.Join(root, "opt/cni/bin/bridge")); !os.IsNotExist(err) {
		t.Errorf("opt/cni/bin/bridge links to the distribution's plugin (%v): nodes use the pinned release", err)
	}
	if got := read("etc/modules-load.d/kisgen.conf"); got != "overlay\nbr_netfilter\n" {
		t.Errorf("modules-load = %q", got)
	}
	for _, s := range []string{"net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1"} {
		if !strings.Contains(read("etc/sysctl.d/90-kisgen.conf"), s) {
			t.Errorf("sysctl file lacks %q", s)
		}
	}
	if !strings.Contains(read("etc/cloud/cloud.cfg.d/90-kisgen.cfg"), "datasource_list: [ NoCloud, None ]") {
		t.Error("cloud-init datasource not set")
	}
	if got := read("etc/machine-id"); got != "" {
		t.Errorf("machine-id = %q, want empty so each machine gets its own", got)
	}
	for _, gone := range []string{"etc/ssh/ssh_host_ed25519_key", "var/lib/dbus/machine-id"} {
		if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s left in the image", gone)
		}
	}
	// Without KISGEN_BINARIES nothing is baked, so the manifest lists no component; its
	// form must still be what the bootstrap reads.
	m, err := roles.ParseImageManifest([]byte(read("etc/kisgen/image-manifest.json")))
	if err != nil {
		t.Fatal(err)
	}
	if m.OS != "debian-12" || len(m.Components) != 0 {
		t.Errorf("manifest os = %q, components %+v: want debian-12 and none", m.OS, m.Components)
	}
}

// TestBuiltImageManifestIsReadableByTheBootstrap checks the manifest of the image in the
// per-user cache, when one was built (make e2e builds it), with the roles parser.
func TestBuiltImageManifestIsReadableByTheBootstrap(t *testing.T) {
	images, err := cachedir.Images("")
	if err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile(filepath.Join(images, "debian-12", ManifestFile))
	if err != nil {
		t.Skip("no image built in " + images + "/debian-12 (kisgen image build --os debian-12)")
	}
	m, err := roles.ParseImageManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Components {
		if !strings.HasPrefix(c.Version, "v") && !strings.HasPrefix(c.Name, "image-archive:") {
			t.Errorf("component %s has version %q, want vX.Y.Z", c.Name, c.Version)
		}
		if c.Name != roles.CompCNIPlugins && len(c.SHA256) != 64 {
			t.Errorf("component %s has no sha256", c.Name)
		}
	}
}

func TestBuildIDFollowsContent(t *testing.T) {
	base := Options{OS: "debian-12"}
	id := BuildID(base)
	if !strings.HasPrefix(id, "debian-12-") || BuildID(base) != id {
		t.Fatalf("BuildID = %q, not stable", id)
	}
	for name, o := range map[string]Options{
		"os":     {OS: "debian-13"},
		"size":   {OS: "debian-12", SizeGB: 20},
		"mirror": {OS: "debian-12", AptMirror: "http://apt.example/debian"},
	} {
		if BuildID(o) == id {
			t.Errorf("changing the %s keeps the build id", name)
		}
	}
	if BuildID(Options{OS: "debian-12", Out: "/elsewhere", CacheDir: "/c"}) != id {
		t.Error("the output directory changes the build id")
	}
}

func TestBuildRejectsUnknownOS(t *testing.T) {
	_, err := Build(context.Background(), Options{OS: "windows-11", CacheDir: t.TempDir()})
	if !errors.Is(err, ErrUnsupportedOS) || !strings.Contains(err.Error(), "debian-12") {
		t.Fatalf("err = %v", err)
	}
}

func TestFindSaysHowToBuild(t *testing.T) {
	_, err := Find(t.TempDir())
	if !errors.Is(err, ErrNotBuilt) || !strings.Contains(err.Error(), "kisgen image build") {
		t.Fatalf("err = %v", err)
	}
}

// A relative image directory still gives absolute paths: qemu runs in each VM's directory.
func TestFindGivesAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{KernelFile, InitrdFile, RootFSFile, BuildIDFile} {
		if err := os.MkdirAll(filepath.Join(dir, "debian-12"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "debian-12", f), []byte("debian-12-abc\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	img, err := Find("debian-12")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{img.Dir, img.Kernel, img.Initrd, img.RootFS} {
		if !filepath.IsAbs(p) {
			t.Errorf("%s is not absolute", p)
		}
	}
	if img.OS != "debian-12" {
		t.Errorf("OS %q", img.OS)
	}
}
