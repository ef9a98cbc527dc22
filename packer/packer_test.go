package packer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func writeSSHKey(t testing.TB, path string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// templatesByBuilder generates one template per builder from the plan each builder is
// meant for.
func templatesByBuilder(t *testing.T) map[string]Template {
	t.Helper()
	out := map[string]Template{}
	for builder, mutate := range map[string]func(map[string]any){BuilderQEMU: nil, BuilderAWS: awsPlan, BuilderVSphere: vspherePlan} {
		f := newFixture(t, mutate, nil)
		res := f.generate(t)
		if len(res.Templates) != 1 || res.Templates[0].Builder != builder {
			t.Fatalf("%s plan: templates %v", builder, names(res.Templates))
		}
		out[builder] = res.Templates[0]
	}
	return out
}

func names(ts []Template) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

// TestGoldenTemplates pins the templates of each builder (go test ./packer -update).
func TestGoldenTemplates(t *testing.T) {
	for builder, tmpl := range templatesByBuilder(t) {
		t.Run(builder, func(t *testing.T) {
			golden := filepath.Join("testdata", "golden", tmpl.Name+".pkr.hcl")
			got := tmpl.Files[TemplateFile]
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./packer -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// parsed is what TestParseBack reads back from a template.
type parsed struct {
	Binaries, Archives []string
	Source             []string
	BuildSources       []string
	Env                []string
}

// parseTemplate parses a template with HCL's own parser and evaluates what is constant.
func parseTemplate(t *testing.T, src []byte) (parsed, *hclsyntax.Body) {
	t.Helper()
	file, diags := hclsyntax.ParseConfig(src, TemplateFile, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s\n%s", diags.Error(), src)
	}
	body := file.Body.(*hclsyntax.Body)
	var out parsed
	evalStrings := func(e hclsyntax.Expression, ctx *hcl.EvalContext) []string {
		v, diags := e.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("evaluate: %s", diags.Error())
		}
		var ss []string
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			ss = append(ss, ev.AsString())
		}
		return ss
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "locals":
			out.Binaries = evalStrings(b.Body.Attributes["binaries"].Expr, nil)
			out.Archives = evalStrings(b.Body.Attributes["image_archives"].Expr, nil)
		case "source":
			out.Source = b.Labels
		case "build":
			out.BuildSources = evalStrings(b.Body.Attributes["sources"].Expr, nil)
			for _, pb := range b.Body.Blocks {
				if pb.Type == "provisioner" && pb.Labels[0] == "shell" && pb.Body.Attributes["script"] != nil {
					ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
						"var":   cty.ObjectVal(map[string]cty.Value{"mirror_url": cty.StringVal("MIRROR")}),
						"local": cty.ObjectVal(map[string]cty.Value{"binaries": strList(out.Binaries), "image_archives": strList(out.Archives)}),
					}, Functions: map[string]function.Function{"join": stdlib.JoinFunc}}
					out.Env = evalStrings(pb.Body.Attributes["environment_vars"].Expr, ctx)
				}
			}
		}
	}
	return out, body
}

func strList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, 0, len(ss))
	for _, s := range ss {
		vals = append(vals, cty.StringVal(s))
	}
	return cty.ListVal(vals)
}

// TestParseBack reads each template back with HCL's parser: the bake script receives
// exactly the binaries and archives Generate chose, with their pinned sums, from the
// source the build names.
func TestParseBack(t *testing.T) {
	for builder, tmpl := range templatesByBuilder(t) {
		t.Run(builder, func(t *testing.T) {
			got, _ := parseTemplate(t, tmpl.Files[TemplateFile])
			var want parsed
			for _, b := range tmpl.Binaries {
				s, _ := b.spec()
				want.Binaries = append(want.Binaries, s)
			}
			for _, a := range tmpl.Archives {
				s, _ := a.spec()
				want.Archives = append(want.Archives, s)
			}
			want.Source = []string{builder, "debian-12"}
			want.BuildSources = []string{"source." + builder + ".debian-12"}
			want.Env = []string{"KISGEN_OS=debian-12"}
			if builder == BuilderQEMU {
				want.Env = append(want.Env, "KISGEN_DATASOURCES=NoCloud, None")
			}
			want.Env = append(want.Env, "KISGEN_MIRROR_URL=MIRROR", "KISGEN_BINARIES="+strings.Join(want.Binaries, " "), "KISGEN_IMAGE_ARCHIVES="+strings.Join(want.Archives, " "),
				"KISGEN_FILES=/tmp/"+ImageFilesTar)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("parsed template (-want +got):\n%s", diff)
			}
			if len(tmpl.Files[ImageFilesTar]) == 0 {
				t.Errorf("no %s beside the template", ImageFilesTar)
			}
			for _, b := range tmpl.Binaries {
				if len(b.SHA256) != 64 || b.Sums != "" {
					t.Errorf("%s: sha256 %q sums %q, want a pinned sum", b.Name, b.SHA256, b.Sums)
				}
			}
		})
	}
}

// TestContent proves what an image bakes in and what it leaves to the image's packages
// or refuses.
func TestContent(t *testing.T) {
	k8s := "dl.k8s.io/release/v1.37.2/bin/linux/amd64/"
	tests := []struct {
		name     string
		mutate   func(map[string]any)
		unpinned []string
		check    func(t *testing.T, res *Result, err error)
	}{
		{name: "the pinned container runtime is baked, not the distribution's", check: func(t *testing.T, res *Result, err error) {
			tm := res.Templates[0]
			var got []string
			for _, b := range tm.Binaries {
				got = append(got, b.Executables()...)
			}
			sort.Strings(got)
			want := []string{"bridge", "calicoctl", "containerd", "containerd-shim-runc-v2", "ctr", "etcd", "etcdctl", "host-local", "kube-apiserver",
				"kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet", "loopback", "portmap", "runc"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("executables (-want +got):\n%s", diff)
			}
			for _, b := range tm.Binaries {
				if b.Name == roles.CompContainerd && b.Version != plan.DefaultContainerdVersion {
					t.Errorf("containerd %s baked, want the plan's %s", b.Version, plan.DefaultContainerdVersion)
				}
			}
			if len(tm.Archives) != 1 || tm.Archives[0].Path != "images/pause.tar" {
				t.Errorf("archives %+v", tm.Archives)
			}
		}},
		{name: "an unpinned binary is checked at bake time against the site's sums", unpinned: []string{k8s + "kubelet"}, check: func(t *testing.T, res *Result, err error) {
			for _, b := range res.Templates[0].Binaries {
				if b.Name == roles.CompKubelet && (b.SHA256 != "" || b.Sums != k8s+"kubelet.sha256") {
					t.Errorf("kubelet: sha256 %q sums %q", b.SHA256, b.Sums)
				}
			}
		}},
		{name: "an image archive without a pinned sum is refused", unpinned: []string{"images/pause.tar"}, check: func(t *testing.T, res *Result, err error) {
			if !errors.Is(err, ErrUnpinned) || !strings.Contains(err.Error(), "images/pause.tar") {
				t.Errorf("err = %v, want ErrUnpinned naming the archive", err)
			}
		}},
		{name: "without a mirror the official URLs are baked, checked against the sites' sums", mutate: func(d map[string]any) { delete(d, "mirror") }, check: func(t *testing.T, res *Result, err error) {
			for _, b := range res.Templates[0].Binaries {
				if !strings.HasPrefix(b.Path, "https://") || b.SHA256 != "" || !strings.HasPrefix(b.Sums, "https://") {
					t.Errorf("%s: path %q sums %q, want official URLs", b.Name, b.Path, b.Sums)
				}
			}
			if strings.Contains(string(res.Templates[0].Files[TemplateFile]), "mirror_url") {
				t.Error("a template without a mirror declares mirror_url")
			}
		}},
		{name: "one template per operating system, each with what its nodes run", mutate: func(d map[string]any) {
			d["etcd"].(map[string]any)["os"] = "debian-13"
		}, check: func(t *testing.T, res *Result, err error) {
			if diff := cmp.Diff([]string{"qemu-debian-12", "qemu-debian-13"}, names(res.Templates)); diff != "" {
				t.Fatalf("templates (-want +got):\n%s", diff)
			}
			etcdOnly := res.Templates[1]
			if len(etcdOnly.Binaries) != 1 || etcdOnly.Binaries[0].Name != roles.CompEtcd || len(etcdOnly.Archives) != 0 {
				t.Errorf("debian-13 (etcd only) bakes %+v and %+v", etcdOnly.Binaries, etcdOnly.Archives)
			}
			for _, b := range res.Templates[0].Binaries {
				if b.Name == roles.CompEtcd {
					t.Error("debian-12 (no etcd node) bakes etcd")
				}
			}
		}},
		{name: "an operating system the bake script cannot handle is a positioned warning", mutate: func(d map[string]any) {
			d["worker"].(map[string]any)["os"] = "rocky-9"
		}, check: func(t *testing.T, res *Result, err error) {
			if err != nil || names(res.Templates)[0] != "qemu-debian-12" || len(res.Templates) != 1 {
				t.Fatalf("templates %v, %v", names(res.Templates), err)
			}
			if len(res.Report.Findings) != 1 {
				t.Fatalf("findings %v", res.Report.Findings)
			}
			f := res.Report.Findings[0]
			if f.Severity != report.Warning || f.Path != "worker.os" || f.Position.Line == 0 || !strings.Contains(f.Message, "rocky-9") {
				t.Errorf("finding %+v", f)
			}
		}},
		{name: "AWS bakes Ubuntu from Canonical's AMIs", mutate: func(d map[string]any) {
			awsPlan(d)
			d["worker"].(map[string]any)["os"] = "ubuntu-22.04"
		}, check: func(t *testing.T, res *Result, err error) {
			if diff := cmp.Diff([]string{"amazon-ebs-debian-12", "amazon-ebs-ubuntu-22.04"}, names(res.Templates)); diff != "" {
				t.Fatalf("templates (-want +got):\n%s", diff)
			}
			// hclwrite aligns the equals signs: compare with single spaces.
			hcl := strings.Join(strings.Fields(string(res.Templates[1].Files["kisgen.pkr.hcl"])), " ")
			for _, want := range []string{`"099720109477"`, `ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-*`, `ssh_username = "ubuntu"`, `KISGEN_OS=ubuntu-22.04`} {
				if !strings.Contains(hcl, want) {
					t.Errorf("ubuntu template lacks %s", want)
				}
			}
			if hcl := strings.Join(strings.Fields(string(res.Templates[0].Files["kisgen.pkr.hcl"])), " "); !strings.Contains(hcl, `"136693071363"`) || !strings.Contains(hcl, `ssh_username = "admin"`) {
				t.Errorf("debian template lost Debian's AMI owner or user")
			}
			if len(res.Report.Findings) != 0 {
				t.Errorf("findings %v", res.Report.Findings)
			}
		}},
		{name: "qemu cannot bake Ubuntu and says why", mutate: func(d map[string]any) {
			d["worker"].(map[string]any)["os"] = "ubuntu-24.04"
		}, check: func(t *testing.T, res *Result, err error) {
			if diff := cmp.Diff([]string{"qemu-debian-12"}, names(res.Templates)); diff != "" {
				t.Fatalf("templates (-want +got):\n%s", diff)
			}
			if len(res.Report.Findings) != 1 || !strings.Contains(res.Report.Findings[0].Message, "kisgen image build") {
				t.Errorf("findings %v", res.Report.Findings)
			}
		}},
		{name: "the plan's provider picks the builder", mutate: awsPlan, check: func(t *testing.T, res *Result, err error) {
			if diff := cmp.Diff([]string{"amazon-ebs-debian-12"}, names(res.Templates)); diff != "" {
				t.Errorf("templates (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.mutate, nil, tc.unpinned...)
			sums, err := LoadChecksums(f.p) // as the command reads them: none without mirror.checksums
			if err != nil {
				t.Fatal(err)
			}
			res, err := Generate(f.p, Options{Out: filepath.Join(f.dir, "packer"), Checksums: sums, BuildKey: testBuildKey})
			if err != nil && !errors.Is(err, ErrUnpinned) {
				t.Fatal(err)
			}
			tc.check(t, res, err)
		})
	}
}

// TestGenerateRefuses proves the errors a user can meet say what to do.
func TestGenerateRefuses(t *testing.T) {
	f := newFixture(t, nil, nil)
	if _, err := Generate(f.p, Options{Builders: []string{"virtualbox-iso"}, Checksums: f.sums}); !errors.Is(err, ErrUnknownBuilder) || !strings.Contains(err.Error(), "amazon-ebs, qemu, vsphere-clone") {
		t.Errorf("unknown builder: %v", err)
	}
	g := newFixture(t, func(d map[string]any) {
		for _, r := range []string{"etcd", "master", "worker"} {
			d[r].(map[string]any)["os"] = "flatcar"
			d[r].(map[string]any)["format"] = "ignition"
		}
	}, nil)
	if _, err := Generate(g.p, Options{Checksums: g.sums}); !errors.Is(err, ErrNothingToBake) {
		t.Errorf("only flatcar nodes: %v, want ErrNothingToBake", err)
	}
}

// TestDeterministic: the same plan and build key give the same bytes, written twice.
func TestDeterministic(t *testing.T) {
	f := newFixture(t, vspherePlan, nil)
	out := filepath.Join(f.dir, "packer")
	key, err := LoadOrCreateBuildKey(out)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string]string {
		res, err := Generate(f.p, Options{Out: out, Builders: Builders(), Checksums: f.sums, BuildKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if err := Write(res, out); err != nil {
			t.Fatal(err)
		}
		files := map[string]string{}
		err = filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			files[strings.TrimPrefix(path, out)] = info.Mode().String() + " " + string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	first := snapshot()
	key2, err := LoadOrCreateBuildKey(out)
	if err != nil || key2 != key {
		t.Fatalf("build key changed on the second run: %v", err)
	}
	if diff := cmp.Diff(first, snapshot()); diff != "" {
		t.Errorf("second run (-first +second):\n%s", diff)
	}
	if !strings.HasPrefix(first["/"+BuildKeyFile], "-rw-------") {
		t.Errorf("build key mode: %s", strings.SplitN(first["/"+BuildKeyFile], " ", 2)[0])
	}
	if len(first) != 2+3*3+2*3 { // key pair; per template kisgen.pkr.hcl, bake.sh and kisgen-files.tar; seeds of qemu and vSphere
		t.Errorf("files: %d", len(first))
	}
}

// TestSeedIsValidCloudConfig checks the build VM's user-data with cloud-init's own schema.
func TestSeedIsValidCloudConfig(t *testing.T) {
	ci := testtool.Require(t, "cloud-init", "cloud-init") // the build seed is schema-checked by it
	ud, err := buildUserData(testBuildKey)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(file, ud, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ci, "schema", "--config-file", file).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Valid cloud-config")) {
		t.Errorf("cloud-init schema: %v\n%s\n%s", err, out, ud)
	}
}

// TestBuildKeyIsKept: an existing key is read, never replaced; a broken one is an error
// that says what to do.
func TestBuildKeyIsKept(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreateBuildKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateBuildKey(dir)
	if err != nil || a != b {
		t.Fatalf("second load: %q, %v; want %q", b, err, a)
	}
	if err := os.WriteFile(filepath.Join(dir, BuildKeyFile), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateBuildKey(dir); !errors.Is(err, ErrBuildKey) || !strings.Contains(err.Error(), "delete") {
		t.Errorf("broken key: %v", err)
	}
}

// TestFieldsRefuseWhatTheBakeScriptCannotSplit: a space or '|' in a value would shift
// the bake script's fields.
func TestFieldsRefuseWhatTheBakeScriptCannotSplit(t *testing.T) {
	for _, b := range []Binary{
		{Name: "etcd", Version: "v3 .7", Kind: "tar", Path: "p", SHA256: "x", Provides: []string{"etcd"}, Dest: "/opt"},
		{Name: "etcd", Version: "v3", Kind: "tar", Path: "a|b", SHA256: "x", Provides: []string{"etcd"}, Dest: "/opt"},
		{Name: "etcd", Version: "v3", Kind: "tar", Path: "p'q", SHA256: "x", Provides: []string{"etcd"}, Dest: "/opt"},
	} {
		if _, err := b.spec(); !errors.Is(err, ErrField) {
			t.Errorf("%+v: %v, want ErrField", b, err)
		}
	}
	if _, err := (Archive{Path: "images/a b.tar", SHA256: "x"}).spec(); !errors.Is(err, ErrField) {
		t.Errorf("archive with a space: %v", err)
	}
}

// TestBakedImageDefaultsAreBesideThePlan: the qemu template reads the base image and
// writes the baked one under .cache/images beside the plan, where the qemu provider
// finds images by name.
func TestBakedImageDefaultsAreBesideThePlan(t *testing.T) {
	tmpl := templatesByBuilder(t)[BuilderQEMU]
	src := string(tmpl.Files[TemplateFile])
	for _, want := range []string{`"${path.root}/../../.cache/images/debian-12"`, `"${path.root}/../../.cache/images/` + bakedName("debian-12") + `"`,
		`default     = "http://10.0.2.2:8080"`} {
		if !strings.Contains(src, want) {
			t.Errorf("template lacks %s", want)
		}
	}
	if got := image.ManifestPath; !strings.Contains(src, got) {
		t.Errorf("template does not download %s", got)
	}
}

// TestBaseImageDefaultsToTheUserCache: with BaseImages (what `kisgen packer` passes: the
// per-user cache's images/), the qemu template reads the base image `kisgen image build`
// published there, and still writes the baked image, which is the plan's, beside the plan.
func TestBaseImageDefaultsToTheUserCache(t *testing.T) {
	f := newFixture(t, nil, nil)
	res, err := Generate(f.p, Options{Out: filepath.Join(f.dir, "packer"), Checksums: f.sums, BuildKey: testBuildKey, BaseImages: "/var/cache/kisgen/images"})
	if err != nil {
		t.Fatal(err)
	}
	src := string(res.Templates[0].Files[TemplateFile])
	for _, want := range []string{`var.base_image : "/var/cache/kisgen/images/debian-12"`, `"${path.root}/../../.cache/images/` + bakedName("debian-12") + `"`,
		`empty: /var/cache/kisgen/images/debian-12"`} {
		if !strings.Contains(src, want) {
			t.Errorf("template lacks %s", want)
		}
	}
	if strings.Contains(src, `"${path.root}/../../.cache/images/debian-12"`) {
		t.Error("the base image still defaults to the plan's directory")
	}
}
