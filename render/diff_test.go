package render_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/render/rendertest"
)

// renderAt renders plan text in dir with the PKI in dir/generated, as `kisgen render`
// does, and returns the result and the PKI's changes.
func renderAt(t *testing.T, dir, text string) (*render.Result, []pki.Change) {
	t.Helper()
	path := filepath.Join(dir, plan.DefaultPlanFileName)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := rendertest.Load(t, path)
	b, changes, err := pki.Ensure(p, filepath.Join(dir, "generated"), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := render.Render(p, b, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res, changes
}

func TestDiffSaysWhichNodesChangeAndWhy(t *testing.T) {
	base := string(rendertest.Example(t, "ha.yaml"))
	dir := filepath.Dir(rendertest.WritePlan(t, []byte(base)))
	first, _ := renderAt(t, dir, base)
	if err := render.SaveRecord(filepath.Join(dir, "generated"), first.Record); err != nil {
		t.Fatal(err)
	}
	old, err := render.LoadRecord(filepath.Join(dir, "generated"))
	if err != nil {
		t.Fatal(err)
	}

	edit := func(s string, pairs ...string) string {
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				t.Fatalf("plan lacks %q", pairs[i])
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		return s
	}
	tests := []struct {
		name string
		text string
		want []string
	}{
		{name: "the same plan changes nothing", text: base},
		// Nodes learn of each other from the cluster (kisgen-sync), and the masters
		// label nodes from the role labels kubelets register with: adding or removing a
		// node changes no other node's user-data, so nothing that runs is replaced.
		{name: "a new worker changes no other node",
			text: edit(base, "  expected_count: 3\n  nodes:\n  - host: worker1", "  expected_count: 4\n  nodes:\n  - host: worker4\n    ip: 10.10.0.34\n  - host: worker1"),
			want: []string{"worker4: new node (roles worker, cloud-init)"}},
		{name: "a kubelet override changes only that node",
			text: edit(base, "    ip: 10.10.0.32\n", "    ip: 10.10.0.32\n    kubelet:\n      option_overrides:\n        max-pods: \"200\"\n"),
			want: []string{"worker2: unit kubelet.service changed (+--max-pods=200)"}},
		{name: "an extra API server name reissues the masters' certificates",
			text: edit(base, "apiserver_cert_extra_sans: kubernetes.example.com", "apiserver_cert_extra_sans: kubernetes.example.com,k8s.example.com"),
			want: []string{
				"master1: certificate apiserver-master1 reissued (SANs changed: added k8s.example.com); private key apiserver-master1 replaced",
				"master2: certificate apiserver-master2 reissued (SANs changed: added k8s.example.com); private key apiserver-master2 replaced",
			}},
		{name: "a removed worker changes no other node",
			text: edit(base, "  expected_count: 3\n  nodes:\n  - host: worker1\n    ip: 10.10.0.31\n", "  expected_count: 2\n  nodes:\n"),
			want: []string{"worker1: no longer in the plan (remove the machine)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each case starts from a copy of the first render's state.
			caseDir := t.TempDir()
			if err := os.CopyFS(caseDir, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			res, changes := renderAt(t, caseDir, tc.text)
			reissued := map[string]string{}
			for _, c := range changes {
				if c.Action == pki.ActionReissued {
					reissued[c.Name] = c.Reason
				}
			}
			var got []string
			for _, c := range render.Diff(old, &res.Record, render.DiffOptions{Reissued: reissued}) {
				got = append(got, c.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordRoundTripsAndHoldsNoSecrets(t *testing.T) {
	p, res := renderExample(t, "", "minimal.yaml")
	dir := t.TempDir()
	if _, err := render.LoadRecord(dir); !errors.Is(err, render.ErrNoRecord) {
		t.Fatalf("no record yet: err = %v", err)
	}
	if err := render.SaveRecord(dir, res.Record); err != nil {
		t.Fatal(err)
	}
	back, err := render.LoadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&res.Record, back, cmp.AllowUnexported(render.NodeRecord{})); diff != "" {
		t.Errorf("record round trip (-want +got):\n%s", diff)
	}
	data, _ := os.ReadFile(render.RecordPath(dir))
	// The record is streamed (render.Record.WriteJSON): it must be what encoding the
	// whole value gives, also when its maps are empty.
	for _, r := range []render.Record{res.Record, {Schema: render.RecordSchema}} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", " ")
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
		got, err := r.Marshal()
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("streamed record differs from encoding/json's (%v):\n%s\nwant:\n%s", err, got, want.Bytes())
		}
	}
	if got, _ := res.Record.Marshal(); !bytes.Equal(got, data) {
		t.Errorf("SaveRecord wrote other bytes than Marshal")
	}
	for _, n := range res.Nodes {
		for _, f := range n.Model.Files {
			if f.Secret && strings.Contains(string(data), strings.TrimSpace(f.Content)[30:60]) {
				t.Errorf("the record holds %s of %s", f.Path, n.Host)
			}
		}
	}
	if back.PlanSHA256 == "" || back.Versions["kubernetes"] != p.Versions.Kubernetes {
		t.Errorf("record lacks the plan hash or versions: %q %v", back.PlanSHA256, back.Versions)
	}
	if err := os.WriteFile(render.RecordPath(dir), []byte(`{"schema":"other"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := render.LoadRecord(dir); !errors.Is(err, render.ErrBadRecord) {
		t.Errorf("foreign record: err = %v, want ErrBadRecord", err)
	}
}
