package packer

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// fixture is a plan in a temporary directory with an SSH key and a mirror.checksums file.
type fixture struct {
	dir      string
	planFile string
	p        *plan.Plan
	sums     map[string]string
}

// newFixture writes examples/minimal.yaml with a mirror (http://10.0.2.100:8080,
// mirror/SHA256SUMS, one image archive) changed by mutate, and pins a sum for every
// artifact the plan's nodes download and for the archive. content, when it has a path,
// gives that file's bytes (its sum is the real one); other sums are sha256(path).
// unpinned lists mirror paths left out of the checksums.
func newFixture(t testing.TB, mutate func(doc map[string]any), content map[string][]byte, unpinned ...string) fixture {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["mirror"] = map[string]any{"url": "http://10.0.2.100:8080", "checksums": "mirror/SHA256SUMS", "image_archives": []any{"images/pause.tar"}}
	if mutate != nil {
		mutate(doc)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := fixture{dir: dir, planFile: filepath.Join(dir, "kismatic-cluster.yaml")}
	if err := os.WriteFile(f.planFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
	writeSSHKey(t, filepath.Join(dir, "kismaticuser.key"))
	if err := os.MkdirAll(filepath.Join(dir, "mirror"), 0o755); err != nil {
		t.Fatal(err)
	}
	sumsFile := filepath.Join(dir, "mirror", "SHA256SUMS")
	if err := os.WriteFile(sumsFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := loadPlanUnpinned(t, f.planFile)
	paths := append([]string(nil), p.Mirror.ImageArchives...)
	for _, a := range roles.PlanArtifacts(p) {
		paths = append(paths, a.MirrorPath)
	}
	skip := map[string]bool{}
	for _, u := range unpinned {
		skip[u] = true
	}
	f.sums = map[string]string{}
	var lines []string
	for _, path := range paths {
		if skip[path] {
			continue
		}
		b, ok := content[path]
		if !ok {
			b = []byte(path)
		}
		s := sha256.Sum256(b)
		f.sums[path] = hex.EncodeToString(s[:])
		lines = append(lines, f.sums[path]+"  "+path)
	}
	sort.Strings(lines)
	if err := os.WriteFile(sumsFile, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.p = loadPlanUnpinned(t, f.planFile)
	return f
}

// loadPlanUnpinned loads a plan like loadPlan but lets through `validate`'s refusal of
// unpinned image archives: the fixture's checksums are written after a first load, and
// Generate's own check of the archives' pins is under test too (for plans that reach it
// without that rule, such as a checksums file edited after validation).
func loadPlanUnpinned(t testing.TB, file string) *plan.Plan {
	t.Helper()
	p, rep, err := plan.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		if f.Severity == report.Error && !strings.Contains(f.Message, "without a pinned sha256") {
			t.Fatalf("plan %s: %s\n%v", file, rep.Summary(), rep.Findings)
		}
	}
	return p
}

func loadPlan(t testing.TB, file string) *plan.Plan {
	t.Helper()
	p, rep, err := plan.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsFatal(false) {
		t.Fatalf("plan %s: %s\n%v", file, rep.Summary(), rep.Findings)
	}
	return p
}

// generate runs Generate for the fixture with a fixed build key into dir/packer.
func (f fixture) generate(t *testing.T, builders ...string) *Result {
	t.Helper()
	res, err := Generate(f.p, Options{Out: filepath.Join(f.dir, "packer"), Builders: builders, Checksums: f.sums, BuildKey: testBuildKey})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// testBuildKey is a fixed authorized_keys line, so templates and seeds are comparable.
const testBuildKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3Xw0dQHt7nAqYF2jQk9Cc9Dq7y0Yl1oTfQhAqv3h9M kisgen-build"

// awsPlan and vspherePlan turn the fixture into a plan for that provider.
func awsPlan(doc map[string]any) {
	doc["provider"] = map[string]any{"name": "aws", "aws": map[string]any{"region": "eu-west-1", "subnet_id": "subnet-0123456789abcdef0", "admin_cidrs": []string{"203.0.113.0/24"}}}
	for _, g := range []string{"etcd", "master", "worker"} {
		doc[g].(map[string]any)["machine"] = map[string]any{"image": "ami-0123456789abcdef0", "type": "t3.medium", "disk_gb": 30}
	}
}

func vspherePlan(doc map[string]any) {
	doc["provider"] = map[string]any{"name": "vsphere", "vsphere": map[string]any{"datacenter": "DC0", "folder": "/DC0/vm/kisgen",
		"resource_pool": "/DC0/host/DC0_C0/Resources", "datastore": "LocalDS_0", "network": "VM Network"}}
	for _, g := range []string{"etcd", "master", "worker"} {
		doc[g].(map[string]any)["machine"] = map[string]any{"image": "/DC0/vm/debian-12-template"}
	}
}
