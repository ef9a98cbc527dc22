package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

func parsePlan(t *testing.T, body string) *plan.Plan {
	t.Helper()
	src := "apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\ncluster: {name: c}\nadd_ons: {cni: {provider: bridge}}\n" + body
	p, rep := plan.Parse(filepath.Join(t.TempDir(), "kismatic-cluster.yaml"), []byte(src), plan.Options{})
	if rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

const threeNodes = `
etcd: {expected_count: 1, nodes: [{host: etcd1, ip: 10.10.0.11}]}
master: {expected_count: 1, nodes: [{host: master1, ip: 10.10.0.21}]}
worker: {expected_count: 1, nodes: [{host: worker1, ip: 10.10.0.31, internal_ip: 10.10.1.31}]}
`

func TestClusterPrefixLen(t *testing.T) {
	for _, tc := range []struct {
		name, nodes string
		want        int
	}{
		{"one /24 gives /24", `
etcd: {expected_count: 1, nodes: [{host: e, ip: 10.10.0.11}]}
master: {expected_count: 1, nodes: [{host: m, ip: 10.10.0.21}]}
worker: {expected_count: 1, nodes: [{host: w, ip: 10.10.0.31}]}`, 24},
		{"nodes across /24s share the covering prefix", `
etcd: {expected_count: 1, nodes: [{host: e, ip: 10.10.0.11}]}
master: {expected_count: 1, nodes: [{host: m, ip: 10.10.1.21}]}
worker: {expected_count: 1, nodes: [{host: w, ip: 10.10.3.31}]}`, 22},
		{"the load balancer address counts", `
etcd: {expected_count: 1, nodes: [{host: e, ip: 10.10.0.11}]}
master: {expected_count: 2, load_balancer: "10.20.0.5:6443", nodes: [{host: m, ip: 10.10.0.21}, {host: m2, ip: 10.10.0.22}]}
worker: {expected_count: 1, nodes: [{host: w, ip: 10.10.0.31}]}`, 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clusterPrefixLen(parsePlan(t, tc.nodes)); got != tc.want {
				t.Errorf("prefix = /%d, want /%d", got, tc.want)
			}
		})
	}
}

// TestNetworkConfigParsesBack checks the NoCloud network-config as cloud-init reads it:
// DHCP without DNS on the management NIC and a default route through the host (qemu's
// restricted DHCP offers none; Calico's proxy ARP needs one), the planned addresses on the
// cluster NIC.
func TestNetworkConfigParsesBack(t *testing.T) {
	p := parsePlan(t, `
etcd: {expected_count: 1, nodes: [{host: e, ip: 10.10.0.11}]}
master: {expected_count: 1, nodes: [{host: m, ip: 10.10.0.21}]}
worker: {expected_count: 1, nodes: [{host: w, ip: 10.10.0.31, internal_ip: 10.10.0.131}]}`)
	data, err := networkConfig(p, p.Node("w"), "52:54:00:00:00:01", "52:54:00:00:00:02")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := yaml.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": 2, "ethernets": map[string]any{
		"mgmt": map[string]any{"match": map[string]any{"macaddress": "52:54:00:00:00:01"}, "dhcp4": true,
			"dhcp4-overrides": map[string]any{"use-dns": false, "use-hostname": false},
			"routes":          []any{map[string]any{"to": "0.0.0.0/0", "via": "10.0.2.2"}}},
		"cluster": map[string]any{"match": map[string]any{"macaddress": "52:54:00:00:00:02"}, "dhcp4": false,
			"addresses": []any{"10.10.0.131/24", "10.10.0.31/24"}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("network-config (-want +got):\n%s", diff)
	}
	meta, _ := metaData("kisgen-c-w", "w")
	if string(meta) != "instance-id: kisgen-c-w\nlocal-hostname: w\n" {
		t.Errorf("meta-data = %q", meta)
	}
}

func TestMACsAreStableAndDistinct(t *testing.T) {
	a := macFor("c", "n1", "mgmt")
	if a != macFor("c", "n1", "mgmt") || !strings.HasPrefix(a, "52:54:00:") {
		t.Fatalf("mac %s not stable or not qemu's prefix", a)
	}
	seen := map[string]bool{}
	for _, c := range []string{"c", "d"} {
		for _, h := range []string{"n1", "n2"} {
			for _, nic := range []string{"mgmt", "cluster"} {
				m := macFor(c, h, nic)
				if seen[m] {
					t.Errorf("duplicate mac %s", m)
				}
				seen[m] = true
			}
		}
	}
}

func TestMirrorForward(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		baked     bool
		guest     string
		port      int
		warn, err bool
	}{
		{"no mirror warns", "", false, "", 0, true, false},
		{"no mirror is fine for a baked image", "", true, "", 0, false, false},
		{"user-net address forwards the same port", "http://10.0.2.100:8080", false, "10.0.2.100:8080", 8080, false, false},
		{"default http port", "http://10.0.2.50", false, "10.0.2.50:80", 80, false, false},
		{"loopback is not reachable from a VM", "http://127.0.0.1:8080", false, "", 0, false, true},
		{"the user-net host itself is refused", "http://10.0.2.2:8080", false, "", 0, false, true},
		{"a name is refused", "http://mirror.example.com", false, "", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := parsePlan(t, threeNodes)
			p.Mirror.URL = tc.url
			p.PackageInstallation = !tc.baked
			guest, port, warn, err := mirrorForward(p)
			if (err != nil) != tc.err || (warn != "") != tc.warn {
				t.Fatalf("warn=%q err=%v", warn, err)
			}
			if err != nil {
				if !errors.Is(err, ErrMirror) || !strings.Contains(err.Error(), "kisgen mirror serve") {
					t.Errorf("err = %v, want ErrMirror with the fix", err)
				}
				return
			}
			if tc.guest != "" && (guest.String() != tc.guest || port != tc.port) {
				t.Errorf("forward %s -> 127.0.0.1:%d, want %s -> %d", guest, port, tc.guest, tc.port)
			}
		})
	}
}

func TestMachineSize(t *testing.T) {
	p := parsePlan(t, `
etcd: {expected_count: 3, nodes: [{host: e, ip: 10.10.0.11}, {host: ew, ip: 10.10.0.32}, {host: em, ip: 10.10.0.22}]}
master: {expected_count: 3, load_balancer: '10.10.0.20:6443', nodes: [{host: m, ip: 10.10.0.21}, {host: em, ip: 10.10.0.22}, {host: ms, ip: 10.10.0.42}]}
worker: {expected_count: 2, machine: {cpus: 3, memory_mb: 4096, disk_gb: 30}, nodes: [{host: w, ip: 10.10.0.31}, {host: ew, ip: 10.10.0.32}]}
ingress: {expected_count: 1, machine: {cpus: 1}, nodes: [{host: ew, ip: 10.10.0.32}]}
storage: {expected_count: 2, machine: {memory_mb: 1024}, nodes: [{host: s, ip: 10.10.0.41}, {host: ms, ip: 10.10.0.42}]}`)
	p2 := parsePlan(t, `
etcd: {expected_count: 1, nodes: [{host: em, ip: 10.10.0.22}]}
master: {expected_count: 1, load_balancer: '10.10.0.20:6443', nodes: [{host: em, ip: 10.10.0.22}]}
worker: {expected_count: 1, nodes: [{host: w, ip: 10.10.0.31}]}`)
	for _, tc := range []struct {
		p                 *plan.Plan
		host              string
		cpus, mem, diskGB int
	}{
		{p, "e", 1, 1024, defaultDiskGB},
		{p, "m", 2, 2048, defaultDiskGB},
		{p, "w", 3, 4096, 30},
		// First in the etcd group, whose machine sets nothing: the worker group's size,
		// the larger, and not the ingress group's single CPU.
		{p, "ew", 3, 4096, 30},
		{p, "s", 1, 1024, defaultDiskGB},
		// The storage group's 1,024 MiB is a size for the whole machine: the larger of it
		// and the master's default, not their sum.
		{p, "ms", 2, 2048, defaultDiskGB},
		// etcd and a master on one machine, no size set: both memories, the larger CPU
		// count.
		{p2, "em", 2, 3072, defaultDiskGB},
	} {
		c, m, d := machineSize(tc.p, tc.p.Node(tc.host))
		if c != tc.cpus || m != tc.mem || d != tc.diskGB {
			t.Errorf("%s: %d cpu %d MiB %d GiB, want %d %d %d", tc.host, c, m, d, tc.cpus, tc.mem, tc.diskGB)
		}
	}
}

// TestProbeKVMRequiresHardwareModule: /dev/kvm from kvm_pvm (this project's CI hosts)
// must not be taken for working KVM.
func TestProbeKVMRequiresHardwareModule(t *testing.T) {
	dir := t.TempDir()
	for _, m := range []string{"kvm", "kvm_pvm"} {
		if err := os.Mkdir(filepath.Join(dir, m), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := sysModule
	sysModule = dir
	defer func() { sysModule = old }()
	a := probeKVM(context.Background(), "qemu-system-x86_64", "/nonexistent")
	if a.Name != "tcg" || !strings.Contains(a.Reason, "kvm_pvm") {
		t.Errorf("probe = %+v, want tcg naming kvm_pvm", a)
	}
	if a, err := ChooseAccel(context.Background(), "qemu-system-x86_64", "tcg", ""); err != nil || a.Name != "tcg" {
		t.Errorf("forced tcg = %+v, %v", a, err)
	}
	if _, err := ChooseAccel(context.Background(), "qemu-system-x86_64", "hvf", ""); err == nil {
		t.Error("unknown accelerator accepted")
	}
	for mem, want := range map[int]string{512: "-accel tcg,tb-size=128 -cpu max", 1536: "-accel tcg,tb-size=384 -cpu max", 4096: "-accel tcg,tb-size=512 -cpu max"} {
		if got := strings.Join(Accel{Name: "tcg"}.Args(mem), " "); got != want {
			t.Errorf("tcg args for %d MiB = %s, want %s", mem, got, want)
		}
	}
	if got := (Accel{Name: "tcg"}).KernelArgs(); !slices.Equal(got, []string{"tsc=reliable"}) {
		t.Errorf("tcg kernel args = %q, want tsc=reliable", got)
	}
	if got := (Accel{Name: "kvm"}).KernelArgs(); len(got) != 0 {
		t.Errorf("kvm kernel args = %q, want none", got)
	}
}

func TestProvisionRefusesIgnition(t *testing.T) {
	p := parsePlan(t, threeNodes)
	n := p.Nodes[0]
	_, err := (&Provider{}).Provision(context.Background(), p, []providers.Machine{{Node: n, Format: plan.FormatIgnition}}, providers.Options{})
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), n.Host) {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadBalancerAddressGoesToFirstMaster(t *testing.T) {
	const nodes = `
etcd: {expected_count: 1, nodes: [{host: e, ip: 10.10.0.11}]}
master: {expected_count: 2, load_balancer: "10.10.0.20:6443", nodes: [{host: m1, ip: 10.10.0.21}, {host: m2, ip: 10.10.0.22}]}
worker: {expected_count: 1, nodes: [{host: w, ip: 10.10.0.31}]}`
	for _, tc := range []struct {
		name  string
		plan  string
		first bool
	}{
		{"without a virtual IP the first master answers on it", nodes, true},
		// keepalived holds it: no node gets it as a static address.
		{"with a virtual IP nobody has it statically", strings.Replace(nodes, `load_balancer: "10.10.0.20:6443",`, `virtual_ip: 10.10.0.20,`, 1), false},
	} {
		p := parsePlan(t, tc.plan)
		for host, want := range map[string]bool{"m1": tc.first, "m2": false, "w": false} {
			data, err := networkConfig(p, p.Node(host), "52:54:00:00:00:01", "52:54:00:00:00:02")
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(data), "10.10.0.20/24"); got != want {
				t.Errorf("%s: %s has the load balancer address: %v, want %v\n%s", tc.name, host, got, want, data)
			}
		}
	}
}

// fakeImage publishes a stand-in image directory as `kisgen image build` would.
func fakeImage(t *testing.T, dir, id string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{image.KernelFile, image.InitrdFile, image.RootFSFile} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, image.BuildIDFile), []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImagesByNameComeFromThePlanThenTheUserCache: an image name is looked up beside the
// plan (where a plan's baked images land) and then in the per-user cache that `kisgen
// image build` publishes to, so a second plan or checkout boots the image built once.
func TestImagesByNameComeFromThePlanThenTheUserCache(t *testing.T) {
	p := parsePlan(t, threeNodes)
	cache := t.TempDir()
	fakeImage(t, filepath.Join(cache, "images", "debian-12"), "debian-12-cache")
	img, err := findImage(p, "debian-12", cache)
	if err != nil {
		t.Fatal(err)
	}
	if img.BuildID != "debian-12-cache" || !filepath.IsAbs(img.RootFS) {
		t.Errorf("from the cache: %+v", img)
	}
	t.Setenv(cachedir.Env, cache)
	if img, err := findImage(p, "debian-12", ""); err != nil || img.BuildID != "debian-12-cache" {
		t.Errorf("from KISGEN_CACHE: %+v, %v", img, err)
	}
	fakeImage(t, filepath.Join(filepath.Dir(p.File), image.PlanCacheDir, "debian-12"), "debian-12-plan")
	if img, err := findImage(p, "debian-12", cache); err != nil || img.BuildID != "debian-12-plan" {
		t.Errorf("the plan's own image must come first: %+v, %v", img, err)
	}
	_, err = findImage(p, "debian-13", cache)
	if !errors.Is(err, ErrNoImage) || !strings.Contains(err.Error(), filepath.Join(cache, "images", "debian-13")) {
		t.Errorf("a missing image must name where it was looked for: %v", err)
	}
}

// TestValidateReportsWhatTheVMsCannotBoot: before anything is created, validate reports
// a group whose os no image exists for, a group that would boot another os's image, an
// Ignition group, and VMs that need more memory than this machine has; a baked image of
// an os kisgen cannot build is accepted.
func TestValidateReportsWhatTheVMsCannotBoot(t *testing.T) {
	p := parsePlan(t, `
provider: {name: qemu, qemu: {image: ubuntu-24.04}}
etcd: {expected_count: 1, os: flatcar, nodes: [{host: etcd1, ip: 10.10.0.11}]}
master: {expected_count: 1, os: ubuntu-24.04, machine: {memory_mb: 6000}, nodes: [{host: master1, ip: 10.10.0.21}]}
worker: {expected_count: 1, machine: {memory_mb: 3000}, nodes: [{host: worker1, ip: 10.10.0.31}]}
`)
	q := &Provider{HostMemoryMB: func() int { return 8192 }}
	cache := t.TempDir()
	rep := providers.Check(q, p, providers.Options{CacheDir: cache})
	var got []string
	for _, f := range rep.Findings {
		got = append(got, fmt.Sprintf("%s: %s", f.Path, f.Message))
	}
	want := []string{
		"provider.qemu: the plan's 3 VMs need 10024 MiB of memory together, and this machine has 8192 MiB",
		"etcd.os: the qemu provider boots cloud-init user-data; the etcd group's os flatcar gets ignition",
		"master.os: the qemu provider has no image of ubuntu-24.04: `kisgen image build` makes debian-12 and debian-13, and none was baked under that name",
		"worker.os: the worker group's os is debian-12, but its VMs would boot image ubuntu-24.04 (provider.qemu.image): the user-data is rendered for debian-12",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	// An image of ubuntu-24.04 baked beside the plan (the qemu template of kisgen packer).
	fakeImage(t, filepath.Join(filepath.Dir(p.File), image.PlanCacheDir, "ubuntu-24.04"), "ubuntu-baked")
	rep = providers.Check(q, p, providers.Options{CacheDir: cache})
	for _, f := range rep.Findings {
		if f.Path == "master.os" {
			t.Errorf("a baked image is refused: %s", f.Message)
		}
	}
}
