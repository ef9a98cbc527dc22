package roles_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"

	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

// mirror is a local HTTP mirror with the official layout, serving fake release files.
type mirror struct {
	mu      sync.Mutex
	files   map[string][]byte
	fetched []string
	srv     *httptest.Server
}

func newMirror(t *testing.T) *mirror {
	m := &mirror{files: map[string][]byte{}}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		path := strings.TrimPrefix(r.URL.Path, "/")
		data, ok := m.files[path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		m.fetched = append(m.fetched, path)
		_, _ = w.Write(data)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mirror) fetches() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]string(nil), m.fetched...)
	m.fetched = nil
	return out
}

func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(files[n]))
	}
	_ = tw.Close()
	_ = gz.Close()
	return b.Bytes()
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// installFixture is a worker whose plan points at a local mirror with pinned sums.
type installFixture struct {
	m      *mirror
	node   *roles.Node
	f      *fakeNode
	bins   map[string]string // executable name → content the mirror serves
	system string
	stubs  map[string]string // more command stubs (name → bash body)
}

func newInstallFixture(t *testing.T, planEdits ...string) *installFixture {
	t.Helper()
	return newInstallFixtureWith(t, nil, planEdits...)
}

// newInstallFixtureWith is newInstallFixture with real executables (name → path) served
// in place of the fakes.
func newInstallFixtureWith(t *testing.T, real map[string]string, planEdits ...string) *installFixture {
	t.Helper()
	m := newMirror(t)
	exe := func(name, fake string) string {
		if path, ok := real[name]; ok {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return string(data)
		}
		return fake
	}
	mirrorBlock := "mirror:\n  url: " + m.srv.URL + "\n  image_archives: [images/pause.tar]\n"
	base := string(rendertest.Example(t, "minimal.yaml"))
	base = strings.Replace(base, "provider:\n", mirrorBlock+"provider:\n", 1)
	for i := 0; i+1 < len(planEdits); i += 2 {
		base = strings.Replace(base, planEdits[i], planEdits[i+1], 1)
	}
	// The mirror's content: fake executables under the official names and layouts.
	// (without the image archive, which validate refuses until its sum is pinned)
	p1 := rendertest.Load(t, rendertest.WritePlan(t, []byte(strings.Replace(base, "  image_archives: [images/pause.tar]\n", "", 1))))
	fx := &installFixture{m: m, bins: map[string]string{}}
	var sums strings.Builder
	for _, a := range roles.PlanArtifacts(p1) {
		var data []byte
		switch a.Kind {
		case roles.KindFile:
			c := exe(a.Provides[0], "#!/bin/sh\necho "+a.Provides[0]+" "+a.Version+"\n")
			fx.bins[a.Provides[0]] = c
			data = []byte(c)
		case roles.KindTar:
			files := map[string]string{}
			for _, p := range a.Provides {
				member, name, _ := strings.Cut(p, "=")
				files[member] = exe(name, "#!/bin/sh\necho "+name+" "+a.Version+"\n")
				fx.bins[name] = files[member]
			}
			data = tarGz(t, files)
		case roles.KindDirTar:
			files := map[string]string{}
			for _, p := range append(a.Provides, "macvlan") {
				// as the real plugins answer when run without a CNI command
				files["./"+p] = exe(p, "#!/bin/sh\necho CNI "+p+" plugin "+a.Version+" >&2\n")
				fx.bins[p] = files["./"+p]
			}
			data = tarGz(t, files)
		default:
			data = []byte("kind: List\n")
		}
		m.files[a.MirrorPath] = data
		fmt.Fprintf(&sums, "%s  %s\n", sum(data), a.MirrorPath)
	}
	m.files["images/pause.tar"] = []byte("an image archive")
	fmt.Fprintf(&sums, "%s  %s\n", sum(m.files["images/pause.tar"]), "images/pause.tar")
	planPath := rendertest.WritePlan(t, []byte(strings.Replace(base, mirrorBlock, mirrorBlock+"  checksums: SHA256SUMS\n", 1)))
	writeFile(t, filepath.Join(filepath.Dir(planPath), "SHA256SUMS"), sums.String(), 0o644)
	p := rendertest.Load(t, planPath)
	b := rendertest.Bundle(t, p)
	in, err := roles.LoadInputs(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := roles.NewCluster(p, b, in)
	if err != nil {
		t.Fatal(err)
	}
	if fx.node, err = c.Node(p.Node("worker1")); err != nil {
		t.Fatal(err)
	}
	fx.f = newFakeNode(t, fx.node)
	fx.system = t.TempDir()
	return fx
}

// run runs the bootstrap up to the end of the install phase.
func (fx *installFixture) run(t *testing.T, extraEnv ...string) (int, roles.Status, string) {
	t.Helper()
	f := fx.f
	scripts := map[string]string{"ss": f.ss, "df": f.df, "swapoff": f.swapoff}
	for _, e := range []string{"iptables", "iptables-save", "iptables-restore", "ip", "nsenter", "mount", "umount", "modprobe", "sysctl", "systemctl", "conntrack"} {
		scripts[e] = "exit 0"
	}
	for name, body := range fx.stubs {
		scripts[name] = body
	}
	_ = os.RemoveAll(f.bin)
	stubs(t, f.bin, shellTools, scripts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(f.root, roles.BinDir, "kisgen-bootstrap"))
	cmd.WaitDelay = time.Second
	cmd.Env = envWith(os.Environ(), append([]string{"PATH=" + f.bin, "KISGEN_ROOT=" + f.root,
		"KISGEN_LIB=" + filepath.Join(f.root, roles.LibPath), "KISGEN_NODE_ENV=" + filepath.Join(f.root, roles.NodeEnvPath),
		"KISGEN_STATE_DIR=" + f.state, "KISGEN_STATUS=" + filepath.Join(f.state, "status.json"),
		"KISGEN_BIN_DIR=" + filepath.Join(f.root, roles.BinDir), "KISGEN_CNI_BIN_DIR=" + filepath.Join(f.root, roles.CNIBinDir),
		"KISGEN_CACHE_DIR=" + filepath.Join(f.state, "cache"), "KISGEN_ARTIFACTS=" + filepath.Join(f.root, roles.ArtifactsPath),
		"KISGEN_IMAGE_MANIFEST=" + filepath.Join(f.root, roles.ImageManifestPath),
		"KISGEN_SYSTEM_PATH=" + fx.system, "KISGEN_SYSTEM_CNI_DIRS=" + fx.system, "KISGEN_STOP_AFTER=install",
		"http_proxy=", "https_proxy=", "HTTPS_PROXY=", "no_proxy=*"}, extraEnv...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, readStatus(t, filepath.Join(f.state, "status.json")), out.String()
}

func (fx *installFixture) installed(t *testing.T, dir, name string) (string, bool) {
	t.Helper()
	path := filepath.Join(fx.f.root, dir, name)
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("%s is not installed: %v", name, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable", path)
	}
	return string(data), st.Mode()&os.ModeSymlink != 0
}

func TestBootstrapInstallsVerifiedDownloads(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	fx := newInstallFixture(t)

	code, st, out := fx.run(t)
	if code != 0 {
		t.Fatalf("bootstrap exited %d\n%s", code, out)
	}
	if st.Phase != roles.PhaseInstall || st.Step != "binaries in place" || st.InstallPath != "download" {
		t.Errorf("status = %q %q %q, want install, binaries in place, download", st.Phase, st.Step, st.InstallPath)
	}
	for name, v := range fx.node.Expect.Versions {
		if st.Versions[name] != v {
			t.Errorf("status versions[%s] = %q, want %q", name, st.Versions[name], v)
		}
	}
	for _, name := range []string{"kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		if got, _ := fx.installed(t, roles.BinDir, name); got != fx.bins[name] {
			t.Errorf("%s = %q, want the mirror's %q", name, got, fx.bins[name])
		}
	}
	for _, name := range []string{"bridge", "host-local", "loopback", "portmap", "macvlan"} {
		if got, _ := fx.installed(t, roles.CNIBinDir, name); got != fx.bins[name] {
			t.Errorf("CNI plugin %s = %q, want %q", name, got, fx.bins[name])
		}
	}
	if got := len(fx.m.fetches()); got != len(fx.node.Artifacts) { // the image archive is fetched in the configure phase
		t.Errorf("%d downloads, want one per artifact (%d)", got, len(fx.node.Artifacts))
	}

	t.Run("a rerun converges without fetching anything", func(t *testing.T) {
		fx.m.srv.Close() // a reboot with the mirror gone
		code, st, out := fx.run(t)
		if code != 0 || st.Phase != roles.PhaseInstall || st.InstallPath != "download" {
			t.Fatalf("rerun: exit %d, status %+v\n%s", code, st, out)
		}
		if st.Versions["kubelet"] != fx.node.Expect.Versions["kubelet"] {
			t.Errorf("rerun lost the versions: %v", st.Versions)
		}
	})
}

func TestBootstrapRefusesWrongSums(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	fx := newInstallFixture(t)
	var kubelet roles.Artifact
	for _, a := range fx.node.Artifacts {
		if a.Name == roles.CompKubelet {
			kubelet = a
		}
	}
	fx.m.files[kubelet.MirrorPath] = []byte("#!/bin/sh\necho tampered\n")
	code, st, out := fx.run(t)
	if code != 1 || st.Phase != roles.PhaseFailed {
		t.Fatalf("exit %d phase %q, want 1 failed\n%s", code, st.Phase, out)
	}
	for _, want := range []string{kubelet.URL, "expected " + kubelet.SHA256} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("status error %q does not say %q", st.Error, want)
		}
	}
	if _, err := os.Stat(filepath.Join(fx.f.root, roles.BinDir, "kubelet")); err == nil {
		t.Error("the tampered kubelet was installed")
	}
}

// TestBootstrapUsesTheImageManifest proves the image's binaries are used only at the
// versions the plan pins, the container runtime included: an image with Debian's
// containerd 1.6, runc 1.1 and CNI plugins 1.1 gets the pinned releases from the mirror
// instead, and says so.
func TestBootstrapUsesTheImageManifest(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	for _, tc := range []struct {
		name                  string
		containerd, runc, cni string // the image's versions; "" = the plan's
		wantImage             bool
		wantLog               string
	}{
		{name: "an image at the pinned versions is used", wantImage: true},
		{name: "an image's older runtime is not used", containerd: "v1.6.20", runc: "v1.1.5", cni: "v1.1.1",
			wantLog: "image has containerd v1.6.20, the plan pins v2.4.2: not using it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newInstallFixture(t)
			want := fx.node.Expect.Versions
			or := func(v, def string) string {
				if v == "" {
					return def
				}
				return v
			}
			img := t.TempDir()
			var comps []roles.ImageComponent
			for _, c := range []struct{ name, version string }{
				{"containerd", or(tc.containerd, want["containerd"])}, {"containerd-shim-runc-v2", or(tc.containerd, want["containerd"])},
				{"ctr", or(tc.containerd, want["containerd"])}, {"runc", or(tc.runc, want["runc"])},
				// the plan pins another kubelet: the image's must not be used
				{"kubelet", "v1.30.0"},
			} {
				path := filepath.Join(img, c.name)
				writeFile(t, path, "#!/bin/sh\necho image "+c.name+" version "+strings.TrimPrefix(c.version, "v")+"\n", 0o755)
				data, _ := os.ReadFile(path)
				comps = append(comps, roles.ImageComponent{Name: c.name, Version: c.version, Path: path, SHA256: sum(data)})
			}
			cni := filepath.Join(img, "cni")
			cniVersion := or(tc.cni, want["cni-plugins"])
			for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
				writeFile(t, filepath.Join(cni, p), "#!/bin/sh\necho CNI "+p+" plugin "+cniVersion+" >&2\n", 0o755)
			}
			comps = append(comps, roles.ImageComponent{Name: "cni-plugins", Version: cniVersion, Path: cni})
			manifest, err := roles.ImageManifest{OS: "debian-12", Components: comps}.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(fx.f.root, roles.ImageManifestPath), string(manifest), 0o644)

			code, st, out := fx.run(t)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			wantPath := "download"
			if tc.wantImage {
				wantPath = "mixed"
			}
			if st.InstallPath != wantPath {
				t.Errorf("status install path %q, want %q", st.InstallPath, wantPath)
			}
			for _, c := range []string{"containerd", "runc", "cni-plugins", "kubelet"} {
				if st.Versions[c] != want[c] {
					t.Errorf("status versions[%s] = %q, want the pinned %q", c, st.Versions[c], want[c])
				}
			}
			for _, name := range []string{"containerd", "ctr", "runc"} {
				got, link := fx.installed(t, roles.BinDir, name)
				if fromImage := link && strings.Contains(got, "image "+name); fromImage != tc.wantImage {
					t.Errorf("%s from the image = %v, want %v (link=%v %q)", name, fromImage, tc.wantImage, link, got)
				}
			}
			if got, link := fx.installed(t, roles.BinDir, "kubelet"); link || got != fx.bins["kubelet"] {
				t.Errorf("kubelet should be the plan's version from the mirror, got link=%v %q", link, got)
			}
			fetched := strings.Join(fx.m.fetches(), " ")
			for _, runtime := range []string{"containerd-", "runc.amd64", "cni-plugins"} {
				if strings.Contains(fetched, runtime) == tc.wantImage {
					t.Errorf("fetched %s: %v, want %v: %s", runtime, !tc.wantImage, tc.wantImage, fetched)
				}
			}
			if !strings.Contains(out, tc.wantLog) {
				t.Errorf("the log does not say %q:\n%s", tc.wantLog, out)
			}
		})
	}
}

// TestBootstrapUsesTheSystemRuntimeOnlyAtThePinnedVersion: the operating system's own
// containerd, runc and CNI plugins are used only when they are the releases the plan pins.
func TestBootstrapUsesTheSystemRuntimeOnlyAtThePinnedVersion(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	for _, tc := range []struct {
		name      string
		debian    bool // Debian 12's versions, as its packages print them
		wantLocal bool
	}{
		{"Debian 12's containerd 1.6.20 and runc 1.1.5 are replaced by the pinned releases", true, false},
		{"a system runtime at the pinned versions is used", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newInstallFixture(t)
			want := fx.node.Expect.Versions
			ctrd, runc, cni := "containerd github.com/containerd/containerd/v2 "+want["containerd"]+" abc", "runc version "+strings.TrimPrefix(want["runc"], "v"), want["cni-plugins"]
			if tc.debian {
				ctrd, runc, cni = "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u1", "runc version 1.1.5+ds1", "version unknown"
			}
			for name, line := range map[string]string{"containerd": ctrd, "containerd-shim-runc-v2": ctrd, "ctr": ctrd, "runc": runc} {
				writeFile(t, filepath.Join(fx.system, name), "#!/bin/sh\necho '"+line+"'\n", 0o755)
			}
			for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
				writeFile(t, filepath.Join(fx.system, p), "#!/bin/sh\necho CNI "+p+" plugin "+cni+" >&2\n", 0o755)
			}
			code, st, out := fx.run(t)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			for _, c := range []string{"containerd", "runc", "cni-plugins"} {
				if st.Versions[c] != want[c] {
					t.Errorf("status versions[%s] = %q, want %q", c, st.Versions[c], want[c])
				}
			}
			_, link := fx.installed(t, roles.BinDir, "runc")
			if link != tc.wantLocal {
				t.Errorf("runc links to the system's: %v, want %v", link, tc.wantLocal)
			}
			fetched := strings.Join(fx.m.fetches(), " ")
			if strings.Contains(fetched, "containerd-") == tc.wantLocal {
				t.Errorf("fetched containerd: %v, want %v", !tc.wantLocal, !tc.wantLocal)
			}
			if tc.debian && !strings.Contains(out, "the operating system has containerd v1.6.20 in "+fx.system+", the plan pins "+want["containerd"]+": not using it") {
				t.Errorf("the log does not name the system's containerd:\n%s", out)
			}
		})
	}
}

// TestBootstrapStopsOnAnotherRuntimeVersion: a runtime binary that reports another version
// than the plan pins (replaced behind kisgen's back) stops the install with the fix.
func TestBootstrapStopsOnAnotherRuntimeVersion(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	fx := newInstallFixture(t)
	if code, _, out := fx.run(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	writeFile(t, filepath.Join(fx.f.root, roles.BinDir, "runc"), "#!/bin/sh\necho runc version 1.1.5\n", 0o755)
	code, st, out := fx.run(t)
	if code != 1 || st.Phase != roles.PhaseFailed || !strings.Contains(st.Error, "reports runc v1.1.5, the plan pins "+fx.node.Expect.Versions["runc"]) {
		t.Fatalf("exit %d status %+v, want 1 and the runc versions named\n%s", code, st, out)
	}
}

func TestBootstrapWithoutDownloadsStopsOnMissingBinaries(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	fx := newInstallFixture(t, "  version: v1.37.2\n", "  version: v1.37.2\n  disable_package_installation: true\n")
	code, st, out := fx.run(t)
	if code != 3 || st.Phase != roles.PhaseFailed || !strings.Contains(st.Error, "disable_package_installation") {
		t.Fatalf("exit %d status %+v, want exit 3 and a reason naming disable_package_installation\n%s", code, st, out)
	}
	if got := fx.m.fetches(); len(got) != 0 {
		t.Errorf("fetched %v although downloads are disabled", got)
	}
}

// TestBootstrapConvergesThroughConfigure runs the whole bootstrap with systemd, the kernel
// and the health endpoints stubbed: the configure phase merges the hosts block, enables
// and starts the role units in order, imports the image archive, reports done; a rerun
// (a reboot) changes nothing and fetches nothing.
func TestBootstrapConvergesThroughConfigure(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	realCurl := testtool.Require(t, "curl", "curl")
	fx := newInstallFixture(t)
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, "127.0.0.1 localhost\n", 0o644)
	fx.stubs = map[string]string{
		"systemctl": `echo "systemctl $*" >>` + calls,
		// the health endpoints answer; downloads go to the mirror
		"curl": `for a in "$@"; do case $a in http*://127.0.0.1:10248/* | http*://127.0.0.1:10256/*) exit 0 ;; esac; done; exec ` + realCurl + ` "$@"`,
	}
	// ctr is the fake containerd's own ctr from the mirror: record its calls instead.
	env := []string{"KISGEN_STOP_AFTER=", "KISGEN_WAIT_SECONDS=10", "KISGEN_HOSTS_FILE=" + hosts,
		"KISGEN_HOSTS_BLOCK=" + filepath.Join(fx.f.root, roles.HostsBlockPath),
		"KISGEN_CONTAINERD_CONFIG=" + filepath.Join(fx.f.root, roles.ContainerdConfigPath)}
	code, st, out := fx.run(t, env...)
	if code != 0 || st.Phase != roles.PhaseDone {
		t.Fatalf("exit %d phase %q error %q\n%s", code, st.Phase, st.Error, out)
	}
	log, _ := os.ReadFile(calls)
	for _, want := range []string{
		"systemctl daemon-reload",
		"systemctl enable --quiet containerd.service kisgen-service-route.service kubelet.service kube-proxy.service kisgen-sync.timer",
		"systemctl restart containerd.service",
		"systemctl start --no-block kubelet.service",
		"systemctl start --no-block kube-proxy.service",
	} {
		if !strings.Contains(string(log), want+"\n") {
			t.Errorf("no %q in the systemctl calls:\n%s", want, log)
		}
	}
	if !strings.Contains(out, "imported pause.tar") {
		t.Errorf("the image archive was not imported:\n%s", out)
	}
	merged, _ := os.ReadFile(hosts)
	block := file(t, fx.node, roles.HostsBlockPath).Content // the seed: kisgen-sync has not run
	if !strings.HasPrefix(string(merged), "127.0.0.1 localhost\n") || strings.Count(string(merged), block) != 1 {
		t.Errorf("hosts file:\n%s\nwant the original line and the block once:\n%s", merged, block)
	}
	fx.m.fetches()

	t.Run("a rerun changes nothing", func(t *testing.T) {
		_ = os.Remove(calls)
		code, st, out := fx.run(t, env...)
		if code != 0 || st.Phase != roles.PhaseDone {
			t.Fatalf("exit %d phase %q error %q\n%s", code, st.Phase, st.Error, out)
		}
		again, _ := os.ReadFile(hosts)
		if string(again) != string(merged) {
			t.Errorf("the hosts file changed on a rerun:\n%s", again)
		}
		if got := fx.m.fetches(); len(got) != 0 {
			t.Errorf("a rerun fetched %v", got)
		}
		log, _ := os.ReadFile(calls)
		if strings.Contains(string(log), "restart containerd") || strings.Contains(out, "imported") {
			t.Errorf("a rerun restarted containerd or imported again:\n%s\n%s", log, out)
		}
	})
}

// TestBootstrapImportsBakedImageArchives proves an image archive the image already holds
// (the bake script lists it as image-archive:PATH with its sum) is imported from the image
// without a fetch, that a baked copy with another sum is not trusted, and that an archive
// only the image lists (a plan for baked images names none) is imported too.
func TestBootstrapImportsBakedImageArchives(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	realCurl := testtool.Require(t, "curl", "curl")
	for _, tc := range []struct {
		name     string
		content  string // the baked copy
		wantBake bool
	}{
		{"the baked copy with the pinned sum is used", "an image archive", true},
		{"a baked copy with another sum is fetched again", "another archive", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newInstallFixture(t)
			baked := filepath.Join(t.TempDir(), "pause.tar")
			writeFile(t, baked, tc.content, 0o644)
			// and one the plan does not list: imported from the image all the same
			extra := filepath.Join(t.TempDir(), "extra.tar")
			writeFile(t, extra, "an archive only the image has", 0o644)
			manifest, err := roles.ImageManifest{OS: "debian-12", Components: []roles.ImageComponent{
				{Name: "image-archive:images/pause.tar", Path: baked, SHA256: sum([]byte(tc.content))},
				{Name: "image-archive:images/extra.tar", Path: extra, SHA256: sum([]byte("an archive only the image has"))},
			}}.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(fx.f.root, roles.ImageManifestPath), string(manifest), 0o644)
			dir := t.TempDir()
			hosts := filepath.Join(dir, "hosts")
			writeFile(t, hosts, "127.0.0.1 localhost\n", 0o644)
			fx.stubs = map[string]string{
				"systemctl": "exit 0",
				"curl":      `for a in "$@"; do case $a in http*://127.0.0.1:10248/* | http*://127.0.0.1:10256/*) exit 0 ;; esac; done; exec ` + realCurl + ` "$@"`,
			}
			code, st, out := fx.run(t, "KISGEN_STOP_AFTER=", "KISGEN_WAIT_SECONDS=10", "KISGEN_HOSTS_FILE="+hosts,
				"KISGEN_HOSTS_BLOCK="+filepath.Join(fx.f.root, roles.HostsBlockPath),
				"KISGEN_CONTAINERD_CONFIG="+filepath.Join(fx.f.root, roles.ContainerdConfigPath))
			if code != 0 || st.Phase != roles.PhaseDone {
				t.Fatalf("exit %d phase %q error %q\n%s", code, st.Phase, st.Error, out)
			}
			fetched := strings.Contains(strings.Join(fx.m.fetches(), " "), "images/pause.tar")
			if fetched == tc.wantBake {
				t.Errorf("fetched images/pause.tar: %v, want %v\n%s", fetched, !tc.wantBake, out)
			}
			if got := strings.Contains(out, "from the image manifest ("+baked+")"); got != tc.wantBake {
				t.Errorf("imported from the image: %v, want %v\n%s", got, tc.wantBake, out)
			}
			if _, err := os.Stat(baked); err != nil {
				t.Errorf("the baked archive must stay on the image: %v", err)
			}
			if !strings.Contains(out, "imported baked extra.tar") || strings.Contains(out, "imported baked pause.tar") {
				t.Errorf("the archive only the image has is not imported once, or the plan's twice:\n%s", out)
			}
		})
	}
}

// TestBootstrapReadsTheRealRuntimeVersions installs the real containerd, runc and CNI
// plugins of the plan's versions (built from the Go module proxy) and checks that the
// bootstrap reads what each really reports and records it.
func TestBootstrapReadsTheRealRuntimeVersions(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	testtool.Require(t, "curl", "curl")
	ctrd := containerdBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cache := filepath.Join(rendertest.RepoRoot(t), ".cache", "bin")
	runc, err := binbuild.Runc(ctx, plan.DefaultRuncVersion, cache, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	cni, err := binbuild.CNIPluginSet(ctx, plan.DefaultCNIPluginsVersion, cache, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]string{"runc": filepath.Join(runc, "runc")}
	for _, b := range binbuild.ContainerdBinaries {
		real[b] = filepath.Join(ctrd, b)
	}
	for _, p := range binbuild.CNIPlugins {
		real[p] = filepath.Join(cni, p)
	}
	fx := newInstallFixtureWith(t, real)
	code, st, out := fx.run(t)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, c := range []string{roles.CompContainerd, roles.CompRunc, roles.CompCNIPlugins} {
		if st.Versions[c] != fx.node.Expect.Versions[c] {
			t.Errorf("status versions[%s] = %q, want what the real binary reports, %q", c, st.Versions[c], fx.node.Expect.Versions[c])
		}
	}
}
