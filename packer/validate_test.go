package packer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// packerBin finds packer: .ci/run installs Debian's packer. Without it the templates are
// not checked by `packer validate`.
func packerBin(t *testing.T) string {
	t.Helper()
	return testtool.Require(t, "packer", "packer")
}

// packerValidate runs `packer validate` on a written template directory with the values
// a user gives at build time: vCenter credentials in govc's variables, the cluster.
func packerValidate(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	argv := append([]string{"validate"}, args...)
	cmd := exec.Command(bin, append(argv, filepath.Base(dir)+"/")...)
	cmd.Dir = filepath.Dir(dir)
	cmd.Env = append(os.Environ(), "CHECKPOINT_DISABLE=1", "PACKER_CACHE_DIR="+filepath.Join(t.TempDir(), "cache"),
		"GOVC_URL=https://user:pass@vcenter.example.com/sdk", "GOVC_USERNAME=administrator@vsphere.local", "GOVC_PASSWORD=s3cret", "GOVC_INSECURE=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTemplatesPassPackerValidate writes the template of every builder and checks it
// with Packer's own validator (the real one, Debian's packer).
func TestTemplatesPassPackerValidate(t *testing.T) {
	bin := packerBin(t)
	// The cloud builders also bake Ubuntu: their workers run it.
	withUbuntuWorkers := func(mutate func(map[string]any)) func(map[string]any) {
		return func(d map[string]any) {
			mutate(d)
			d["worker"].(map[string]any)["os"] = "ubuntu-24.04"
		}
	}
	for builder, mutate := range map[string]func(map[string]any){BuilderQEMU: nil, BuilderAWS: withUbuntuWorkers(awsPlan), BuilderVSphere: withUbuntuWorkers(vspherePlan)} {
		t.Run(builder, func(t *testing.T) {
			f := newFixture(t, mutate, nil)
			out := filepath.Join(f.dir, "packer")
			key, err := LoadOrCreateBuildKey(out)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Generate(f.p, Options{Out: out, Checksums: f.sums, BuildKey: key})
			if err != nil {
				t.Fatal(err)
			}
			if err := Write(res, out); err != nil {
				t.Fatal(err)
			}
			for _, tm := range res.Templates {
				if msg, err := packerValidate(t, bin, filepath.Join(out, tm.Name)); err != nil {
					t.Errorf("packer validate %s: %v\n%s", tm.Name, err, msg)
				}
			}
		})
	}
}

// TestPackerValidateCatchesMistakes proves the validator used above can fail: a template
// with an attribute the builder does not know is refused.
func TestPackerValidateCatchesMistakes(t *testing.T) {
	bin := packerBin(t)
	f := newFixture(t, nil, nil)
	out := filepath.Join(f.dir, "packer")
	key, err := LoadOrCreateBuildKey(out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Generate(f.p, Options{Out: out, Checksums: f.sums, BuildKey: key})
	if err != nil {
		t.Fatal(err)
	}
	tm := res.Templates[0]
	tm.Files[TemplateFile] = []byte(strings.Replace(string(tm.Files[TemplateFile]), "disk_image ", "disk_imaeg ", 1))
	if err := Write(res, out); err != nil {
		t.Fatal(err)
	}
	if msg, err := packerValidate(t, bin, filepath.Join(out, tm.Name)); err == nil || !strings.Contains(msg, "disk_imaeg") {
		t.Errorf("packer validate accepted a misspelt attribute: %v\n%s", err, msg)
	}
}

// TestPlanStringsAreEscaped: values from the plan that HCL would read as syntax (quotes,
// backslashes, ${…}, %{…}) reach Packer as the same strings.
func TestPlanStringsAreEscaped(t *testing.T) {
	hostile := `kisgen "vm" ${var.govc_password} %{if true}x%{endif} \ end`
	f := newFixture(t, func(d map[string]any) {
		vspherePlan(d)
		d["provider"].(map[string]any)["vsphere"].(map[string]any)["folder"] = hostile
	}, nil)
	res := f.generate(t)
	src := res.Templates[0].Files[TemplateFile]
	_, body := parseTemplate(t, src)
	var got string
	for _, b := range body.Blocks {
		if b.Type == "source" {
			v, diags := b.Body.Attributes["folder"].Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("folder: %s", diags.Error())
			}
			got = v.AsString()
			if _, ok := b.Body.Attributes["folder"].Expr.(*hclsyntax.TemplateExpr); ok && len(b.Body.Attributes["folder"].Expr.Variables()) > 0 {
				t.Errorf("folder became an expression with references")
			}
		}
	}
	if got != hostile {
		t.Errorf("folder = %q, want %q", got, hostile)
	}
	t.Run("packer validate", func(t *testing.T) {
		bin := testtool.Require(t, "packer", "packer")
		out := filepath.Join(f.dir, "packer")
		if _, err := LoadOrCreateBuildKey(out); err != nil {
			t.Fatal(err)
		}
		if err := Write(res, out); err != nil {
			t.Fatal(err)
		}
		if msg, err := packerValidate(t, bin, filepath.Join(out, res.Templates[0].Name)); err != nil {
			t.Errorf("packer validate with a hostile folder: %v\n%s", err, msg)
		}
	})
}
