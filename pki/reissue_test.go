package pki

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/plan"
)

// caFiles returns the bytes of every CA and service-account file, which no reissue may
// ever change.
func caFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range []string{"ca.pem", "ca-key.pem", "etcd-ca.pem", "etcd-ca-key.pem", "front-proxy-ca.pem", "front-proxy-ca-key.pem", "service-account-key.pem"} {
		data, err := os.ReadFile(filepath.Join(dir, pkiDir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(data)
	}
	return out
}

func TestLeavesAreReissuedOnlyWhenThePlanOrTimeSaysSo(t *testing.T) {
	base := string(planYAML(3, 2, 3))
	now := time.Now().UTC().Truncate(time.Second)
	expiry := 17520 * time.Hour
	for _, tc := range []struct {
		name string
		// edit changes the plan text; later is how far the clock moves.
		edit   func(string) string
		later  time.Duration
		opts   Options
		want   []string // names reissued (kubelet kubeconfigs are not stored)
		reason string   // a substring of every reissue's reason
	}{
		{
			name: "extra SAN reissues only the API server certificates",
			edit: func(s string) string {
				return strings.Replace(s, "    ca_expiry: 43800h\n", "    ca_expiry: 43800h\n    apiserver_cert_extra_sans: api.example.com,192.0.2.7\n", 1)
			},
			want:   []string{"apiserver-master1", "apiserver-master2"},
			reason: "SANs changed: added api.example.com, 192.0.2.7",
		},
		{
			name:   "a node's new address reissues that node's certificates only",
			edit:   func(s string) string { return strings.Replace(s, "ip: 10.1.0.7\n", "ip: 10.1.0.77\n", 1) },
			want:   []string{"kubelet-serving-worker2"},
			reason: "SANs changed: added 10.1.0.77; removed 10.1.0.7",
		},
		{
			name: "key algorithm change reissues every leaf but no CA",
			edit: func(s string) string {
				return strings.Replace(s, "    ca_expiry: 43800h\n", "    ca_expiry: 43800h\n    key_algorithm: rsa-2048\n", 1)
			},
			want:   allLeaves,
			reason: "key algorithm ecdsa-p256, plan wants rsa-2048",
		},
		{
			name:   "inside the renewal window",
			later:  expiry - 720*time.Hour + time.Hour,
			want:   allLeaves,
			reason: "within the renewal window (renew_before 720h0m0s)",
		},
		{
			name:   "one hour before the renewal window nothing changes",
			later:  expiry - 720*time.Hour - time.Hour,
			want:   nil,
			reason: "",
		},
		{
			name:   "expired",
			later:  expiry + time.Hour,
			want:   allLeaves,
			reason: "expired on",
		},
		{
			name:   "rotation of named leaves",
			opts:   Options{Rotate: []string{"admin", "kubelet-worker3"}},
			want:   []string{"admin", "kubelet-worker3"},
			reason: "rotation requested",
		},
		{
			name:   "rotation of every leaf",
			opts:   Options{RotateAll: true},
			want:   allLeaves,
			reason: "rotation requested",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := parsePlan(t, "before.yaml", []byte(base))
			mustEnsure(t, p, dir, Options{Now: func() time.Time { return now }})
			cas := caFiles(t, dir)
			text := base
			if tc.edit != nil {
				text = tc.edit(base)
				if text == base {
					t.Fatal("edit changed nothing")
				}
			}
			p2 := parsePlan(t, "after.yaml", []byte(text))
			opts := tc.opts
			opts.Now = func() time.Time { return now.Add(tc.later) }
			b, changes := mustEnsure(t, p2, dir, opts)
			want := tc.want
			if slices.Equal(want, allLeaves) {
				want = leafNames(t, p2)
			}
			var got []string
			for _, c := range changes {
				if strings.HasPrefix(c.Name, kubeconfigDir+"/") {
					continue
				}
				got = append(got, c.Name)
				if c.Action != ActionReissued || !strings.Contains(c.Reason, tc.reason) {
					t.Errorf("%s: %s %q, want reissued with a reason containing %q", c.Name, c.Action, c.Reason, tc.reason)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("reissued (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(cas, caFiles(t, dir)); diff != "" {
				t.Errorf("a CA or the service-account key changed:\n%s", diff)
			}
			verifyAll(t, p2, b, now.Add(tc.later))
			if _, again := mustEnsure(t, p2, dir, Options{Now: opts.Now}); len(again) != 0 {
				t.Errorf("a third run still changed %v", changedNames(again))
			}
		})
	}
}

// allLeaves stands for every leaf of the edited plan.
var allLeaves = []string{"<all leaves>"}

func leafNames(t *testing.T, p *plan.Plan) []string {
	specs, err := leafSpecs(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range specs {
		out = append(out, s.name)
	}
	return out
}

func TestNewRoleAddsCertificates(t *testing.T) {
	dir := t.TempDir()
	p := parsePlan(t, "aio.yaml", allInOnePlan())
	mustEnsure(t, p, dir, Options{})
	text := strings.Replace(string(allInOnePlan()), "worker:\n  expected_count: 1\n  nodes:\n  - {host: node1, ip: 10.0.0.1}\n",
		"worker:\n  expected_count: 2\n  nodes:\n  - {host: node1, ip: 10.0.0.1}\n  - {host: node2, ip: 10.0.0.2}\n", 1)
	p2 := parsePlan(t, "aio2.yaml", []byte(text))
	b, changes := mustEnsure(t, p2, dir, Options{})
	want := []string{"kubelet-node2:created", "kubelet-serving-node2:created", "ssh/node2:created"}
	if diff := cmp.Diff(want, changedNames(changes)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	verifyAll(t, p2, b, time.Now())
}

func TestRotatingAnUnknownNameOrACAIsRefused(t *testing.T) {
	p := examplePlan(t, "minimal.yaml")
	for _, tc := range []struct{ name, want string }{
		{"kubelet-nosuchhost", "not a certificate of this plan"},
		{"ca", "kisgen certs rotate --ca=ca"},
		{"service-account", "invalidates every token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Ensure(p, t.TempDir(), Options{Rotate: []string{tc.name}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestHostNamesThatMakeTwoCertificatesShareANameAreRefused(t *testing.T) {
	text := strings.Replace(string(planYAML(1, 1, 2)), "host: worker2", "host: serving-worker1", 1)
	_, _, err := Ensure(parsePlan(t, "clash.yaml", []byte(text)), t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "kubelet-serving-worker1") {
		t.Errorf("got %v, want ErrNameClash naming kubelet-serving-worker1", err)
	}
}
