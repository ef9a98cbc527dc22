package render_test

import (
	"testing"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

// fixtureSecrets stands in for a real bundle in golden files: the same names exist, but
// each certificate, key and host key is a short fixed text naming itself, so golden
// files do not change with every test run (real certificates carry fresh keys and
// dates) and show at a glance which secrets each node gets.
type fixtureSecrets struct{ b *pki.Bundle }

func pem(kind, name string) []byte {
	return []byte("-----BEGIN " + kind + "-----\nfixture " + name + "\n-----END " + kind + "-----\n")
}

func (f fixtureSecrets) Get(name string) (*pki.Pair, bool) {
	p, ok := f.b.Get(name)
	if !ok {
		return nil, false
	}
	q := &pki.Pair{Name: name}
	if len(p.CertPEM) > 0 {
		q.CertPEM = pem("CERTIFICATE", name)
	}
	if len(p.KeyPEM) > 0 {
		q.KeyPEM = pem("PRIVATE KEY", name)
	}
	if len(p.PublicKeyPEM) > 0 {
		q.PublicKeyPEM = pem("PUBLIC KEY", name)
	}
	return q, true
}

func (f fixtureSecrets) SSHHostKey(host string) ([]byte, []byte, bool) {
	if _, _, ok := f.b.SSHHostKey(host); !ok {
		return nil, nil, false
	}
	return pem("OPENSSH PRIVATE KEY", "ssh host key "+host), []byte("ssh-ed25519 AAAAfixture" + host), true
}

var fixtureInputs = roles.Inputs{SSHAuthorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFixtureFixtureFixtureFixtureFixtureFixture kismaticuser"}

// renderExample renders an example plan (after edits) with a real PKI.
func renderExample(t *testing.T, format plan.Format, example string, edits ...string) (*plan.Plan, *render.Result) {
	t.Helper()
	p := rendertest.ExamplePlan(t, example, edits...)
	res, err := render.Render(p, rendertest.Bundle(t, p), render.Options{Format: format, KeepModels: true})
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}

// examples are the plans every validator runs over: each example, and variants that
// reach the other branches (bridge, routed, proxy, Ignition operating systems).
var examples = []exampleCase{
	{"minimal", "minimal.yaml", nil, false},
	{"ha", "ha.yaml", nil, false},
	{"kismatic-v1.12", "kismatic-v1.12.yaml", nil, false},
	{"bridge", "minimal.yaml", []string{"    provider: calico\n", "    provider: bridge\n"}, false},
	{"proxy-and-mirror", "ha.yaml", []string{"    update_hosts_files: true\n", "    update_hosts_files: true\n    https_proxy: http://proxy.example.com:3128\n",
		"provider:\n", "mirror:\n  url: https://mirror.example.com/kisgen\n  registry: registry.example.com:5000\nprovider:\n"}, false},
	{"flatcar", "minimal.yaml", []string{"worker:\n  expected_count: 1\n", "worker:\n  expected_count: 1\n  os: flatcar\n"}, false},
	{"ha-mirror", "ha.yaml", nil, true},
}

type exampleCase struct {
	name, file string
	edits      []string
	// mirror: a mirror built for the plan, so that nodes download the shared files.
	mirror bool
}

// renderCase renders one of examples.
func renderCase(t *testing.T, format plan.Format, ex exampleCase) (*plan.Plan, *render.Result) {
	t.Helper()
	if !ex.mirror {
		return renderExample(t, format, ex.file, ex.edits...)
	}
	p := rendertest.MirrorPlan(t, ex.file, ex.edits...)
	res, err := render.Render(p, rendertest.Bundle(t, p), render.Options{Format: format, KeepModels: true})
	if err != nil {
		t.Fatal(err)
	}
	return p, res
}
