package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
)

// FuzzParse feeds the loader and validator arbitrary bytes. Whatever the input, Parse must
// not panic or hang, must say why when it returns no plan, and every finding must be
// usable: named file, known severity, a message and a hint, a position inside the file;
// the same input must give the same report; and a plan without errors must answer the
// questions the rest of kisgen asks of it.
//
// Seeds are every plan under examples/ and testdata/. Run longer with `make fuzz`.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"../examples/*.yaml", "testdata/*/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(aliasBomb(3)))
	f.Add([]byte("cluster: *a\n"))
	f.Add([]byte("apiVersion: kisgen.io/v1alpha1\nkind: ClusterPlan\ncluster:\n  <<: &x {name: a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, rep := Parse("fuzz.yaml", data, Options{})
		if rep == nil {
			t.Fatal("no report")
		}
		if p == nil && rep.Count(report.Error) == 0 {
			t.Fatalf("no plan and no error: %v", rep.Findings)
		}
		lines := bytes.Count(normalizeLineBreaks(data), []byte("\n")) + 1 // YAML counts a lone \r as a line break
		for _, f := range rep.Findings {
			switch {
			case f.Severity != report.Error && f.Severity != report.Warning && f.Severity != report.Info:
				t.Errorf("severity %d: %v", f.Severity, f)
			case f.File != "fuzz.yaml":
				t.Errorf("file %q: %v", f.File, f)
			case f.Message == "" || f.Hint == "":
				t.Errorf("finding without message or hint: %#v", f)
			case f.Line < 0 || f.Column < 0 || f.Line > lines:
				t.Errorf("position %d:%d outside a %d-line file: %v", f.Line, f.Column, lines, f)
			case len(f.Message) > 1000 || len(f.Hint) > 1000:
				t.Errorf("finding of %d+%d bytes", len(f.Message), len(f.Hint))
			case !utf8.ValidString(f.Message) || !utf8.ValidString(f.Path):
				t.Errorf("finding is not UTF-8: %q %q", f.Path, f.Message)
			}
		}
		_, again := Parse("fuzz.yaml", data, Options{})
		if diff := cmp.Diff(rep, again); diff != "" {
			t.Fatalf("the same input gave another report (-first +second):\n%s", diff)
		}
		if p == nil || rep.Count(report.Error) > 0 {
			return
		}
		// A valid plan: what render and providers ask of it must hold.
		if p.APIServerURL() == "https://:0" || len(p.EtcdEndpoints()) == 0 || !p.ServiceIP(10).IsValid() {
			t.Fatalf("valid plan without an API server URL, etcd endpoints or DNS service ip")
		}
		for _, r := range []Role{RoleEtcd, RoleMaster, RoleWorker} {
			if len(p.NodesWith(r)) == 0 {
				t.Fatalf("valid plan without %s nodes", r)
			}
		}
		for _, n := range p.Nodes {
			if n.Host == "" || !n.IP.IsValid() || !n.InternalIP.IsValid() || len(n.Roles) == 0 || n.Group == nil || len(n.Sources) == 0 {
				t.Fatalf("valid plan with an incomplete node: %+v", n)
			}
			if p.Network.PodCIDR.Contains(n.InternalIP) {
				t.Fatalf("node %s inside the pod range", n.Host)
			}
		}
	})
}
