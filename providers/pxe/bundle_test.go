package pxe

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// examplePlan loads examples/pxe-cluster.yaml, with its etcd node switched to Ignition.
func examplePlan(t testing.TB) *plan.Plan {
	t.Helper()
	return examplePlanWith(t, "  os: flatcar\n")
}

// examplePlanWith loads examples/pxe-cluster.yaml with etcdSettings added to its etcd group.
func examplePlanWith(t testing.TB, etcdSettings string) *plan.Plan {
	t.Helper()
	data, err := os.ReadFile("../../examples/pxe-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte("etcd:\n  expected_count: 1\n"), []byte("etcd:\n  expected_count: 1\n"+etcdSettings), 1)
	p, rep := plan.Parse("pxe-cluster.yaml", data, plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

func machinesOf(p *plan.Plan) []providers.Machine {
	var out []providers.Machine
	for _, n := range p.Nodes {
		ud := []byte("#cloud-config\nhostname: " + n.Host + "\n")
		if n.Group.Format == plan.FormatIgnition {
			ud = []byte(`{"ignition":{"version":"3.4.0"}}`)
		}
		out = append(out, providers.Machine{Node: n, UserData: ud, Format: n.Group.Format})
	}
	return out
}

// assets makes a fake kernel and initrd for each of the example's operating systems, an
// iPXE directory and a mirror. The images have no root file system: the nodes boot from
// the network at every boot (NoInstall); TestInstall* build the install.
func assets(t testing.TB) Options {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"img/debian-12/vmlinuz": "kernel of debian-12", "img/debian-12/initrd.img": "initrd of debian-12",
		"img/flatcar/vmlinuz": "kernel of flatcar", "img/flatcar/initrd.img": "initrd of flatcar",
		"ipxe/undionly.kpxe": "undionly", "ipxe/ipxe.efi": "efi",
		"mirror/SHA256SUMS": "sums\n", "mirror/etcd/v3.7.3/etcd.tar.gz": "etcd",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Options{
		Out:     filepath.Join(dir, "bundle"),
		Images:  map[string]string{"debian-12": filepath.Join(dir, "img/debian-12"), "flatcar": filepath.Join(dir, "img/flatcar")},
		IPXEDir: filepath.Join(dir, "ipxe"), Mirror: filepath.Join(dir, "mirror"), Root: DefaultRoot, KernelArgs: DefaultKernelArgs,
		NoInstall: true,
	}
}

func read(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBundleHoldsEveryNodesBootFiles(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	ms := machinesOf(p)
	res, err := Build(p, ms, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := res.Dir
	wantScript := `#!ipxe
# kisgen: node worker1 (worker) of cluster rack1, MAC 0c:c4:7a:10:20:31, address 10.20.0.31
echo kisgen: booting worker1
kernel http://10.20.0.2:8080/assets/debian-12/vmlinuz initrd=initrd.img root=/dev/sda rw console=tty0 console=ttyS0,115200n8 ds=nocloud-net;s=http://10.20.0.2:8080/nocloud/worker1/
initrd http://10.20.0.2:8080/assets/debian-12/initrd.img
boot
`
	if diff := cmp.Diff(wantScript, read(t, dir, "ipxe/0c-c4-7a-10-20-31.ipxe")); diff != "" {
		t.Errorf("worker1's script (-want +got):\n%s", diff)
	}
	if read(t, dir, "ipxe/host/worker1.ipxe") != wantScript {
		t.Error("the per-host script differs from the per-MAC one")
	}
	// etcd1 runs Flatcar: its own os's kernel and initrd, not the first node's.
	if s := read(t, dir, "ipxe/0c-c4-7a-10-20-11.ipxe"); !strings.Contains(s, "ignition.config.url=http://10.20.0.2:8080/ignition/etcd1.ign") || strings.Contains(s, "ds=nocloud") ||
		!strings.Contains(s, "kernel http://10.20.0.2:8080/assets/flatcar/vmlinuz ") || !strings.Contains(s, "initrd http://10.20.0.2:8080/assets/flatcar/initrd.img\n") {
		t.Errorf("etcd1 (Flatcar, Ignition) script:\n%s", s)
	}
	for _, m := range ms {
		if m.Format == plan.FormatIgnition {
			if read(t, dir, "ignition/"+m.Node.Host+".ign") != string(m.UserData) {
				t.Errorf("%s: Ignition config differs", m.Node.Host)
			}
			continue
		}
		nc := "nocloud/" + m.Node.Host + "/"
		if read(t, dir, nc+"user-data") != string(m.UserData) || read(t, dir, nc+"vendor-data") != "" {
			t.Errorf("%s: NoCloud seed differs", m.Node.Host)
		}
		if want := "instance-id: kisgen-rack1-" + m.Node.Host + "\nlocal-hostname: " + m.Node.Host + "\n"; read(t, dir, nc+"meta-data") != want {
			t.Errorf("%s: meta-data %q", m.Node.Host, read(t, dir, nc+"meta-data"))
		}
		if fi, _ := os.Stat(filepath.Join(dir, nc+"user-data")); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: user-data mode %v", m.Node.Host, fi.Mode().Perm())
		}
	}
	boot := read(t, dir, "tftp/boot.ipxe")
	if !strings.Contains(boot, "chain http://10.20.0.2:8080/ipxe/${mac:hexhyp}.ipxe || goto unknown") || read(t, dir, "ipxe/boot.ipxe") != boot {
		t.Errorf("boot script:\n%s", boot)
	}
	for rel, want := range map[string]string{"assets/debian-12/vmlinuz": "kernel of debian-12", "assets/debian-12/initrd.img": "initrd of debian-12",
		"assets/flatcar/vmlinuz": "kernel of flatcar", "assets/flatcar/initrd.img": "initrd of flatcar", "tftp/undionly.kpxe": "undionly", "tftp/ipxe.efi": "efi", "mirror/etcd/v3.7.3/etcd.tar.gz": "etcd"} {
		if got := read(t, dir, rel); got != want {
			t.Errorf("%s = %q, want %q", rel, got, want)
		}
	}
	conf := read(t, dir, "dnsmasq/dnsmasq.conf")
	for _, want := range []string{
		"interface=eno1", "dhcp-range=10.20.0.0,static", "dhcp-host=0c:c4:7a:10:20:11,10.20.0.11,etcd1,infinite",
		"dhcp-host=0c:c4:7a:10:20:32,10.20.0.32,worker2,infinite", "dhcp-option=option:router,10.20.0.1",
		"tftp-root=" + dir + "/tftp", "dhcp-boot=tag:ipxe,http://10.20.0.2:8080/ipxe/boot.ipxe",
	} {
		if !strings.Contains(conf, want+"\n") {
			t.Errorf("dnsmasq.conf lacks %q:\n%s", want, conf)
		}
	}
	m, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Nodes) != 4 || m.HTTPURL != "http://10.20.0.2:8080" || len(m.Files) < 20 {
		t.Errorf("manifest: %+v", m)
	}
	if len(res.Missing) != 0 {
		t.Errorf("missing: %v", res.Missing)
	}
}

func TestDnsmasqAcceptsBothConfigurations(t *testing.T) {
	dnsmasq := testtool.Require(t, "dnsmasq", "dnsmasq-base")
	p := examplePlan(t)
	res, err := Build(p, machinesOf(p), assets(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"dnsmasq.conf", "dnsmasq-proxy.conf"} {
		out, err := exec.Command(dnsmasq, "--test", "--conf-file="+filepath.Join(res.Dir, "dnsmasq", f)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "syntax check OK") {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
}

func TestSameInputsGiveTheSameBundleAndArchive(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	var archives [2][]byte
	for i := range archives {
		res, err := Build(p, machinesOf(p), opts)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteTarGz(&buf, res.Dir); err != nil {
			t.Fatal(err)
		}
		archives[i] = buf.Bytes()
	}
	if !bytes.Equal(archives[0], archives[1]) {
		t.Error("two builds of the same plan give different archives")
	}
	// The archive holds the bundle, with modes kept.
	zr, err := gzip.NewReader(bytes.NewReader(archives[0]))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h.Mode
	}
	if got["bundle/nocloud/worker1/user-data"] != 0o600 || got["bundle/ipxe/boot.ipxe"] != 0o644 || got["bundle/dnsmasq/"] == 0 {
		t.Errorf("archive entries: %v", got)
	}
}

func TestMissingAssetsFailBeforeAnythingIsWritten(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	if _, err := Build(p, machinesOf(p), opts); err != nil {
		t.Fatal(err)
	}
	before := read(t, opts.Out, "ipxe/boot.ipxe")
	opts.Images["flatcar"] = t.TempDir() // no image of flatcar
	p.Nodes[1].MAC = ""
	_, err := Build(p, machinesOf(p), opts)
	if !errors.Is(err, ErrMissingAsset) || !strings.Contains(err.Error(), "`kisgen image build --os flatcar`") || !errors.Is(err, ErrNoMAC) || !strings.Contains(err.Error(), "master.nodes[0].mac") {
		t.Errorf("got %v", err)
	}
	// One kernel for a plan of two operating systems is refused.
	opts.Images, opts.Kernel, opts.Initrd = nil, filepath.Join(t.TempDir(), "vmlinuz"), filepath.Join(t.TempDir(), "initrd.img")
	if _, err := Build(p, machinesOf(p), opts); !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "the plan's nodes run debian-12 and flatcar") {
		t.Errorf("one kernel for two oses: %v", err)
	}
	if read(t, opts.Out, "ipxe/boot.ipxe") != before {
		t.Error("the previous bundle was touched")
	}
	entries, _ := os.ReadDir(filepath.Dir(opts.Out))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".bundle") && e.Name() != ".bundle.lock" { // the output's lock file stays
			t.Errorf("staging left behind: %s", e.Name())
		}
	}
}

// TestBuildRefusesWhatItWouldDestroy: `bundle pxe --out` beside the plan replaced
// whatever was there: the plan directory, the state directory, or a directory of the
// user's. Build refuses, and what was there is intact.
func TestBuildRefusesWhatItWouldDestroy(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	root := t.TempDir()
	state := filepath.Join(root, "generated")
	planFile := filepath.Join(root, "kisgen.yaml")
	mine := filepath.Join(root, "photos")
	for _, f := range []string{filepath.Join(state, "pki", "ca-key.pem"), planFile, filepath.Join(mine, "a.jpg")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("precious"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts.Protect = []outdir.Protected{{Path: state, What: "the state directory"}, {Path: planFile, What: "the plan"}}
	for _, tc := range []struct{ out, want string }{
		{state, "is " + state},
		{root, "contains " + state},
		{filepath.Join(state, "bundle"), "lies inside"},
		{mine, "kisgen did not write it"},
	} {
		opts.Out = tc.out
		_, err := Build(p, machinesOf(p), opts)
		if !errors.Is(err, outdir.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(--out %s) = %v, want a refusal saying %q", tc.out, err, tc.want)
		}
	}
	for _, f := range []string{filepath.Join(state, "pki", "ca-key.pem"), planFile, filepath.Join(mine, "a.jpg")} {
		if data, err := os.ReadFile(f); err != nil || string(data) != "precious" {
			t.Errorf("%s lost: %v", f, err)
		}
	}
	// A bundle kisgen wrote is replaced; one of another cluster is not.
	opts.Out = filepath.Join(root, "bundle")
	if _, err := Build(p, machinesOf(p), opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(p, machinesOf(p), opts); err != nil {
		t.Errorf("rebuilding kisgen's own bundle: %v", err)
	}
	other := *p
	other.Name = "other"
	if _, err := Build(&other, machinesOf(p), opts); !errors.Is(err, outdir.ErrRefused) {
		t.Errorf("another cluster's build over this bundle = %v, want a refusal", err)
	}
}

func TestMissingIPXEBinariesAreReportedNotFatal(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	opts.IPXEDir = t.TempDir()
	res, err := Build(p, machinesOf(p), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) != 2 || !strings.Contains(res.Missing[0], "ipxe package") {
		t.Errorf("missing: %v", res.Missing)
	}
}

func TestServeAnswersUserDataOnlyToItsNode(t *testing.T) {
	p := examplePlan(t)
	res, err := Build(p, machinesOf(p), assets(t))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	h, err := Handler(res.Dir, ServeOptions{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	any, _ := Handler(res.Dir, ServeOptions{AnySource: true})
	tests := []struct {
		name    string
		h       http.Handler
		method  string
		path    string
		from    string
		status  int
		content string
	}{
		{"the node gets its user-data", h, "GET", "/nocloud/worker1/user-data", "10.20.0.31", 200, "#cloud-config\nhostname: worker1\n"},
		{"another node is refused it", h, "GET", "/nocloud/worker1/user-data", "10.20.0.32", 403, ""},
		{"a dotted path is cleaned before the check", h, "GET", "/ipxe/../nocloud/worker1/user-data", "10.20.0.32", 403, ""},
		{"Ignition config likewise", h, "GET", "/ignition/etcd1.ign", "10.20.0.99", 403, ""},
		{"meta-data is not secret", h, "GET", "/nocloud/worker1/meta-data", "10.20.0.99", 200, ""},
		{"boot scripts are for everyone", h, "GET", "/ipxe/0c-c4-7a-10-20-31.ipxe", "10.20.0.99", 200, ""},
		{"any source when asked", any, "GET", "/nocloud/worker1/user-data", "10.0.2.2", 200, "#cloud-config\nhostname: worker1\n"},
		{"the manifest is not served", h, "GET", "/manifest.json", "10.20.0.31", 404, ""},
		{"read-only", h, "PUT", "/ipxe/boot.ipxe", "10.20.0.31", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.RemoteAddr = tt.from + ":40000"
			w := httptest.NewRecorder()
			tt.h.ServeHTTP(w, r)
			if w.Code != tt.status || (tt.content != "" && w.Body.String() != tt.content) {
				t.Errorf("%s %s from %s: %d %q, want %d", tt.method, tt.path, tt.from, w.Code, w.Body.String(), tt.status)
			}
		})
	}
	if !strings.Contains(log.String(), "pxe: worker1 fetched its user-data") {
		t.Errorf("log:\n%s", log.String())
	}
}

// imageCache is a per-user cache holding the fake images of assets, as `kisgen image
// build --os OS` publishes them: CACHE/images/OS.
func imageCache(t *testing.T, opts Options) string {
	t.Helper()
	cache := t.TempDir()
	for name, dir := range opts.Images {
		if err := os.MkdirAll(filepath.Join(cache, "images"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(dir, filepath.Join(cache, "images", name)); err != nil {
			t.Fatal(err)
		}
	}
	return cache
}

// TestProviderWritesTheBundleAndRemovesIt: `kisgen provision pxe` writes the bundle with
// each os's kernel and initrd from the per-user cache (it took the first node's for
// every node), and --destroy removes it.
func TestProviderWritesTheBundleAndRemovesIt(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	state := t.TempDir()
	x := &PXE{Options: Options{IPXEDir: opts.IPXEDir, NoInstall: true}}
	var progress bytes.Buffer
	got, err := x.Provision(context.Background(), p, machinesOf(p), providers.Options{StateDir: state, Progress: &progress, CacheDir: imageCache(t, opts)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[2].ID != "0c:c4:7a:10:20:31" || got[2].PrivateIP != "10.20.0.31" || !got[2].Created {
		t.Errorf("instances %+v", got)
	}
	if !strings.Contains(progress.String(), "kisgen serve pxe "+BundleDir(state)) {
		t.Errorf("progress:\n%s", progress.String())
	}
	if s := read(t, BundleDir(state), "ipxe/0c-c4-7a-10-20-31.ipxe"); !strings.Contains(s, "root=/dev/sda rw") {
		t.Errorf("script:\n%s", s)
	}
	for rel, want := range map[string]string{"assets/debian-12/vmlinuz": "kernel of debian-12", "assets/flatcar/vmlinuz": "kernel of flatcar"} {
		if got := read(t, BundleDir(state), rel); got != want {
			t.Errorf("%s = %q, want %q", rel, got, want)
		}
	}
	if err := x.Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(BundleDir(state)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("bundle left: %v", err)
	}
}

func BenchmarkBuild(b *testing.B) {
	p := examplePlan(b)
	opts := assets(b)
	opts.Out = filepath.Join(b.TempDir(), "bundle")
	ms := machinesOf(p)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Build(p, ms, opts); err != nil {
			b.Fatal(err)
		}
	}
}
