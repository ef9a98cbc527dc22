package render_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vincent-petithory/dataurl"

	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden renders the minimal example in both formats with fixture secrets and
// compares every file with testdata/golden/. Run `go test ./render -run Golden -update`
// after an intended change and review the diff.
func TestGolden(t *testing.T) {
	for _, format := range []plan.Format{plan.FormatCloudInit, plan.FormatIgnition} {
		t.Run(string(format), func(t *testing.T) {
			p := rendertest.ExamplePlan(t, "minimal.yaml")
			in := fixtureInputs
			res, err := render.Render(p, fixtureSecrets{rendertest.Bundle(t, p)}, render.Options{Format: format, Inputs: &in})
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			if err := render.Write(res, filepath.Join(out, "userdata")); err != nil {
				t.Fatal(err)
			}
			compareDir(t, filepath.Join(out, "userdata"), filepath.Join("testdata", "golden", "minimal-"+string(format)))
		})
	}
}

func compareDir(t *testing.T, got, golden string) {
	t.Helper()
	entries, err := os.ReadDir(got)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		_ = os.RemoveAll(golden)
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		data, err := os.ReadFile(filepath.Join(got, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(filepath.Join(golden, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(filepath.Join(golden, e.Name()))
		if err != nil {
			t.Fatalf("%v (run go test ./render -run Golden -update)", err)
		}
		if diff := cmp.Diff(string(want), string(data)); diff != "" {
			t.Errorf("%s differs from %s (-want +got):\n%s", e.Name(), golden, diff)
		}
	}
	if !*update {
		want, _ := os.ReadDir(golden)
		if len(want) != len(names) {
			t.Errorf("%s has %d files, the render wrote %v", golden, len(want), names)
		}
	}
}

// TestRenderTwiceIsByteIdentical renders the same plan and PKI twice, with one worker
// and with many (so map orders and scheduling differ), and compares every byte.
func TestRenderTwiceIsByteIdentical(t *testing.T) {
	p := rendertest.ExamplePlan(t, "ha.yaml")
	b := rendertest.Bundle(t, p)
	// With a mirror too: the download list and each shape's translation (Ignition) are
	// built concurrently.
	mp := rendertest.MirrorPlan(t, "ha.yaml")
	mb := rendertest.Bundle(t, mp)
	for _, tc := range []struct {
		p      *plan.Plan
		b      *pki.Bundle
		format plan.Format
	}{{p, b, plan.FormatCloudInit}, {p, b, plan.FormatIgnition}, {mp, mb, plan.FormatCloudInit}, {mp, mb, plan.FormatIgnition}} {
		p, b, format := tc.p, tc.b, tc.format
		first, err := render.Render(p, b, render.Options{Format: format, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		second, err := render.Render(p, b, render.Options{Format: format, Workers: 8})
		if err != nil {
			t.Fatal(err)
		}
		for i := range first.Nodes {
			if !bytes.Equal(first.Nodes[i].Data, second.Nodes[i].Data) {
				t.Errorf("%s %s differs between two renders", format, first.Nodes[i].Host)
			}
		}
		m1, _ := first.Manifest.Marshal()
		m2, _ := second.Manifest.Marshal()
		r1, _ := first.Record.Marshal()
		r2, _ := second.Record.Marshal()
		if !bytes.Equal(m1, m2) || !bytes.Equal(r1, r2) {
			t.Errorf("%s: manifest or record differs between two renders", format)
		}
	}
	// A reloaded PKI (pki.Ensure again: everything reused) gives the same bytes too.
	again, err := render.Render(p, rendertest.Bundle(t, p), render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := render.Render(p, b, render.Options{})
	for i := range first.Nodes {
		if first.Nodes[i].SHA256 != again.Nodes[i].SHA256 {
			t.Errorf("%s differs after reloading the PKI", first.Nodes[i].Host)
		}
	}
}

// written is what a user-data writes at one path.
type written struct {
	Mode    fs.FileMode
	Content string
}

// modelFiles lists what a node's model says its user-data writes.
func modelFiles(n *roles.Node) map[string]written {
	out := map[string]written{}
	for _, f := range n.Files {
		out[f.Path] = written{f.Mode, f.Content}
	}
	for _, u := range n.Units {
		out[roles.UnitDir+"/"+u.Name] = written{0o644, u.Content}
	}
	return out
}

// TestCloudInitParsesBack reads every cloud-init document back strictly and compares it
// with the node's model.
func TestCloudInitParsesBack(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			p, res := renderCase(t, plan.FormatCloudInit, ex)
			for _, n := range res.Nodes {
				c, err := render.ParseCloudConfig(n.Data)
				if err != nil {
					t.Fatalf("%s: %v", n.Host, err)
				}
				// Render reuses marshalled write_files entries across nodes: the result
				// must be what marshalling the whole document gives.
				direct, err := render.CloudInit(n.Model, p.Network.UpdateHostsFiles)
				if err != nil || !bytes.Equal(direct, n.Data) {
					t.Errorf("%s: Render's output differs from marshalling the document whole (%v)", n.Host, err)
				}
				got := map[string]written{}
				for _, w := range c.WriteFiles {
					var mode fs.FileMode
					if _, err := fmt.Sscanf(w.Permissions, "%o", &mode); err != nil || w.Owner != "root:root" {
						t.Errorf("%s %s: permissions %q owner %q", n.Host, w.Path, w.Permissions, w.Owner)
					}
					got[w.Path] = written{mode, w.Content}
				}
				fetchListed(t, p, got)
				if diff := cmp.Diff(modelFiles(n.Model), got); diff != "" {
					t.Errorf("%s write_files (-model +cloud-init):\n%s", n.Host, diff)
				}
				wantUsers := []render.CloudUser{{Name: p.SSH.User, Shell: "/bin/bash", LockPasswd: true, SSHAuthorizedKeys: n.Model.Users[0].SSHAuthorizedKeys}}
				if diff := cmp.Diff(wantUsers, c.Users); diff != "" {
					t.Errorf("%s users (-want +got):\n%s", n.Host, diff)
				}
				wantRun := []string{"systemctl daemon-reload", "systemctl enable kisgen-install.service", "systemctl start --no-block kisgen-install.service"}
				if diff := cmp.Diff(wantRun, c.RunCmd); diff != "" {
					t.Errorf("%s runcmd (-want +got):\n%s", n.Host, diff)
				}
				if c.Hostname != n.Host || c.SSHDeleteKeys || c.SSHPwAuth {
					t.Errorf("%s: hostname %q ssh_deletekeys %v ssh_pwauth %v", n.Host, c.Hostname, c.SSHDeleteKeys, c.SSHPwAuth)
				}
				if (c.ManageEtcHosts != nil) != p.Network.UpdateHostsFiles {
					t.Errorf("%s: manage_etc_hosts %v with update_hosts_files %v", n.Host, c.ManageEtcHosts, p.Network.UpdateHostsFiles)
				}
			}
		})
	}
	t.Run("unknown keys are refused", func(t *testing.T) {
		if _, err := render.ParseCloudConfig([]byte("#cloud-config\nhostname: x\npackages: [vim]\n")); !errors.Is(err, render.ErrInvalidOutput) {
			t.Errorf("err = %v, want ErrInvalidOutput", err)
		}
	})
}

// ignitionFiles decodes what an Ignition config writes.
func ignitionFiles(t *testing.T, data []byte) (map[string]written, map[string]bool, []string) {
	t.Helper()
	cfg, err := render.ValidateIgnition(data)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]written{}
	for _, f := range cfg.Storage.Files {
		u, err := dataurl.DecodeString(*f.Contents.Source)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		content := u.Data
		if f.Contents.Compression != nil && *f.Contents.Compression == "gzip" {
			r, err := gzip.NewReader(bytes.NewReader(content))
			if err != nil {
				t.Fatal(err)
			}
			if content, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		}
		files[f.Path] = written{fs.FileMode(*f.Mode), string(content)}
	}
	enabled := map[string]bool{}
	for _, u := range cfg.Systemd.Units {
		files[roles.UnitDir+"/"+u.Name] = written{0o644, *u.Contents}
		enabled[u.Name] = u.Enabled != nil && *u.Enabled
	}
	var users []string
	for _, u := range cfg.Passwd.Users {
		users = append(users, u.Name)
		for _, k := range u.SSHAuthorizedKeys {
			users = append(users, string(k))
		}
	}
	return files, enabled, users
}

// fetchListed adds to what a node's user-data writes the files its kisgen-fetch
// downloads, as the node would: each line of roles.FetchListPath names a file of the
// plan's mirror (rendertest.MirrorPlan's, beside the plan), which must have its sum.
func fetchListed(t *testing.T, p *plan.Plan, files map[string]written) {
	t.Helper()
	list, ok := files[roles.FetchListPath]
	if !ok {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(list.Content), "\n")[1:] {
		fields := strings.Split(line, "\t")
		if len(fields) != 4 || !strings.HasPrefix(fields[3], rendertest.MirrorURL+"/") {
			t.Fatalf("%s: bad line %q", roles.FetchListPath, line)
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(p.File), "mirror", filepath.FromSlash(strings.TrimPrefix(fields[3], rendertest.MirrorURL+"/"))))
		if err != nil {
			t.Fatal(err)
		}
		var mode fs.FileMode
		if _, err := fmt.Sscanf(fields[1], "%o", &mode); err != nil {
			t.Fatalf("%s: mode in %q: %v", roles.FetchListPath, line, err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != fields[2] {
			t.Errorf("%s: the mirror's %s does not have the pinned sum", roles.FetchListPath, fields[3])
		}
		files[fields[0]] = written{mode, string(data)}
	}
}

// TestIgnitionParsesBack validates every Ignition config with Ignition's parser, decodes
// its files and compares them with the node's model.
func TestIgnitionParsesBack(t *testing.T) {
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			p, res := renderCase(t, plan.FormatIgnition, ex)
			for _, n := range res.Nodes {
				// Render fills each node into its shape's translation: the result must be
				// what translating the node's whole Butane document gives.
				direct, err := render.Ignition(n.Model, p.Node(n.Host).Group.OS)
				if err != nil || !bytes.Equal(direct, n.Data) {
					t.Errorf("%s: Render's output differs from Butane's translation of the node (%v)", n.Host, err)
				}
				files, enabled, users := ignitionFiles(t, n.Data)
				fetchListed(t, p, files)
				if diff := cmp.Diff(modelFiles(n.Model), files); diff != "" {
					t.Errorf("%s files (-model +ignition):\n%s", n.Host, diff)
				}
				wantEnabled := map[string]bool{}
				for _, u := range n.Model.Units {
					wantEnabled[u.Name] = u.Enable
				}
				if diff := cmp.Diff(wantEnabled, enabled); diff != "" {
					t.Errorf("%s enabled units (-want +got):\n%s", n.Host, diff)
				}
				if diff := cmp.Diff(append([]string{p.SSH.User}, n.Model.Users[0].SSHAuthorizedKeys...), users); diff != "" {
					t.Errorf("%s users (-want +got):\n%s", n.Host, diff)
				}
			}
		})
	}
}

func TestFormatFollowsTheNodeGroup(t *testing.T) {
	_, res := renderExample(t, "", "minimal.yaml", "worker:\n  expected_count: 1\n", "worker:\n  expected_count: 1\n  os: flatcar\n")
	got := map[string]string{}
	for _, n := range res.Nodes {
		got[n.Host] = n.File
	}
	want := map[string]string{"etcd1": "etcd1.yaml", "master1": "master1.yaml", "worker1": "worker1.ign"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if _, err := render.Render(&plan.Plan{}, nil, render.Options{Format: "xml"}); !errors.Is(err, render.ErrFormat) {
		t.Errorf("unknown format: err = %v", err)
	}
}

func TestManifestListsEveryNode(t *testing.T) {
	_, res := renderExample(t, "", "ha.yaml")
	if len(res.Manifest.Nodes) != 8 {
		t.Fatalf("manifest has %d nodes", len(res.Manifest.Nodes))
	}
	for i, m := range res.Manifest.Nodes {
		n := res.Nodes[i]
		gz := render.Gzip(n.Data)
		if m.Host != n.Host || m.File != n.File || m.SHA256 != n.SHA256 || m.Sizes.Raw != len(n.Data) || m.Sizes.Gzip != len(gz) ||
			m.Sizes.Base64 != (len(n.Data)+2)/3*4 || m.Sizes.GzipBase64 != (len(gz)+2)/3*4 || m.ConfigSHA256 != n.Model.ConfigSHA256 || m.Budget != nil {
			t.Errorf("manifest entry %+v does not describe %s", m, n.Host)
		}
		r, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		back, _ := io.ReadAll(r)
		if !bytes.Equal(back, n.Data) || !r.Header.ModTime.IsZero() || r.Header.Name != "" {
			t.Errorf("%s: gzip is not a deterministic round trip", n.Host)
		}
	}
}

// TestBudget measures the HA example against EC2's 16,384-byte user-data limit.
// awsLoadBalancerName is the edit that names examples/ha.yaml's load balancer by a DNS
// name, as an AWS plan must (provision aws creates the load balancer, whose addresses AWS
// assigns).
var awsLoadBalancerName = []string{"load_balancer: 10.10.0.20:6443", "load_balancer: kubernetes.example.com:6443"}

func TestBudget(t *testing.T) {
	tests := []struct {
		name    string
		edits   []string
		mirror  bool
		format  plan.Format
		overs   []string
		noLimit bool
	}{
		{name: "cloud-init inline on AWS with a mirror built for the plan: every node fits (shared files are downloaded)", edits: []string{"  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1]},
			mirror: true, format: plan.FormatCloudInit, noLimit: true},
		{name: "Ignition inline on AWS with a mirror built for the plan: etcd nodes and workers fit, masters do not (their certificates, base64 in the stub)",
			edits: []string{"  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1]}, mirror: true, format: plan.FormatIgnition, overs: []string{"master1", "master2"}},
		{name: "cloud-init inline on AWS with a baked image: every node fits (shared files are in the image)",
			edits: []string{"  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1],
				"  version: v1.37.2\n", "  version: v1.37.2\n  disable_package_installation: true\n"},
			format: plan.FormatCloudInit, noLimit: true},
		{name: "cloud-init inline on AWS: the masters are over (gzip counts)", edits: []string{"  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1]},
			format: plan.FormatCloudInit, overs: []string{"master1", "master2"}},
		{name: "Ignition inline on AWS: every node is over (gzip+base64 in a stub config counts)", edits: []string{"  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1]},
			format: plan.FormatIgnition, overs: []string{"etcd1", "etcd2", "etcd3", "master1", "master2", "worker1", "worker2", "worker3"}},
		{name: "secrets in S3 lift the limit", edits: []string{"  name: qemu\n", "  name: aws\n  aws:\n    admin_cidrs: [203.0.113.0/24]\n    secrets: s3\n    secrets_bucket: b\n    instance_profile: p\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1]},
			format: plan.FormatCloudInit, noLimit: true},
		{name: "qemu has no limit", format: plan.FormatCloudInit, noLimit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := rendertest.ExamplePlan
			if tc.mirror {
				p = rendertest.MirrorPlan
			}
			pl := p(t, "ha.yaml", tc.edits...)
			res, err := render.Render(pl, rendertest.Bundle(t, pl), render.Options{Format: tc.format})
			for _, n := range res.Manifest.Nodes {
				t.Logf("%-8s %-10s raw %6d gzip %6d gzip+base64 %6d budget %v over %v", n.Host, n.Format, n.Sizes.Raw, n.Sizes.Gzip, n.Sizes.GzipBase64, n.Budget, n.OverBudget)
			}
			if tc.noLimit {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, render.ErrTooBig) {
				t.Fatalf("err = %v, want ErrTooBig", err)
			}
			var over []string
			for _, n := range res.Manifest.Nodes {
				if n.OverBudget {
					over = append(over, n.Host)
					if !strings.Contains(err.Error(), n.Host+": ") || !strings.Contains(err.Error(), "16384") || !strings.Contains(err.Error(), "provider.aws.secrets") {
						t.Errorf("the error does not name %s, the limit and the remedy: %v", n.Host, err)
					}
					// Without a mirror the shared files travel inline, and the routes that
					// take them out are named; with one, they already left.
					if shared := !tc.mirror; strings.Contains(err.Error(), "kisgen packer") != shared {
						t.Errorf("the remedy names the baked image and the mirror: %v, want %v: %v", !shared, shared, err)
					}
				}
			}
			if diff := cmp.Diff(tc.overs, over); diff != "" {
				t.Errorf("nodes over budget (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWriteReplacesTheOutputAsAWhole: a later render replaces every file (a removed
// node's file goes), and the staging directory never lingers.
func TestWriteReplacesTheOutputAsAWhole(t *testing.T) {
	_, res := renderExample(t, "", "minimal.yaml")
	dir := filepath.Join(t.TempDir(), "userdata")
	if err := render.Write(res, dir); err != nil {
		t.Fatal(err)
	}
	// A file in kisgen's previous output does not survive the next.
	if err := os.WriteFile(filepath.Join(dir, "gone.yaml"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := render.Write(res, dir); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{".kisgen-output", "etcd1.yaml", "manifest.json", "master1.yaml", "worker1.yaml"}, listDir(t, dir)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"userdata"}, listDir(t, filepath.Dir(dir))); diff != "" {
		t.Errorf("staging left behind (-want +got):\n%s", diff)
	}
	st, _ := os.Stat(filepath.Join(dir, "master1.yaml"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("user-data mode %o, want 0600 (it holds private keys)", st.Mode().Perm())
	}
}

// TestRenderToStreamsAndCleansUp: RenderTo writes what Render+Write would, keeps no
// user-data in memory, and on failure leaves neither output nor staging behind.
func TestRenderToStreamsAndCleansUp(t *testing.T) {
	p := rendertest.ExamplePlan(t, "ha.yaml")
	b := rendertest.Bundle(t, p)
	dir := t.TempDir()
	res, err := render.RenderTo(p, b, render.Options{}, filepath.Join(dir, "streamed"))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := render.Render(p, b, render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := render.Write(whole, filepath.Join(dir, "whole")); err != nil {
		t.Fatal(err)
	}
	for i, n := range res.Nodes {
		if n.Data != nil {
			t.Errorf("%s: RenderTo kept the user-data in memory", n.Host)
		}
		got, _ := os.ReadFile(filepath.Join(dir, "streamed", n.File))
		want, _ := os.ReadFile(filepath.Join(dir, "whole", whole.Nodes[i].File))
		if !bytes.Equal(got, want) || len(got) == 0 {
			t.Errorf("%s differs between RenderTo and Render+Write", n.File)
		}
	}
	aws := rendertest.ExamplePlan(t, "ha.yaml", "  name: qemu\n", "  name: aws\n  aws: {admin_cidrs: [203.0.113.0/24]}\n", "  virtual_ip: 10.10.0.20\n", "", awsLoadBalancerName[0], awsLoadBalancerName[1])
	if _, err := render.RenderTo(aws, rendertest.Bundle(t, aws), render.Options{}, filepath.Join(dir, "failed")); !errors.Is(err, render.ErrTooBig) {
		t.Fatalf("err = %v, want ErrTooBig", err)
	}
	if diff := cmp.Diff([]string{"streamed", "whole"}, listDir(t, dir)); diff != "" {
		t.Errorf("a failed RenderTo left something behind (-want +got):\n%s", diff)
	}
}

// listDir lists dir sorted, without the output lock files (.NAME.lock), which stay
// beside an output by design (see internal/outdir).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !(strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".lock")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// TestConcurrentRenders: two renders of the same plan into one output at once. Without
// the output's lock their stages and renames interleaved; with it both succeed one
// after the other and the output is one render's, whole, with nothing left beside it.
func TestConcurrentRenders(t *testing.T) {
	p := rendertest.ExamplePlan(t, "ha.yaml")
	b := rendertest.Bundle(t, p)
	out := filepath.Join(t.TempDir(), "userdata")
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := render.RenderTo(p, b, render.Options{Workers: 2}, out)
			errs <- err
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, render.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m render.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Nodes {
		got, err := os.ReadFile(filepath.Join(out, n.File))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != n.SHA256 {
			t.Errorf("%s does not match the manifest", n.File)
		}
	}
	if diff := cmp.Diff([]string{"userdata"}, listDir(t, filepath.Dir(out))); diff != "" {
		t.Errorf("left beside the output (-want +got):\n%s", diff)
	}
}

// TestRenderToRefusesProtectedPaths: `kisgen render --out generated` used to replace
// the state directory, CA keys included, and `--out .` the plan and its key. RenderTo
// refuses before it writes anything, and the state is intact.
func TestRenderToRefusesProtectedPaths(t *testing.T) {
	p := rendertest.ExamplePlan(t, "minimal.yaml")
	b := rendertest.Bundle(t, p)
	state := rendertest.StateDir(p)
	protect := []outdir.Protected{{Path: state, What: "the state directory"}, {Path: p.File, What: "the plan"}}
	for _, out := range []string{state, filepath.Dir(p.File), filepath.Join(state, "userdata")} {
		_, err := render.RenderTo(p, b, render.Options{Protect: protect}, out)
		if !errors.Is(err, outdir.ErrRefused) {
			t.Errorf("RenderTo(%s) = %v, want a refusal", out, err)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "pki", "ca-key.pem")); err != nil {
		t.Errorf("CA key lost: %v", err)
	}
	if _, err := os.Stat(p.File); err != nil {
		t.Errorf("plan lost: %v", err)
	}
}
