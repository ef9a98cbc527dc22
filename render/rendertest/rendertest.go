// Package rendertest gives tests of roles, render and the commands a plan to render:
// an example plan copied into a temporary directory with a freshly generated SSH key
// beside it, and its PKI issued by package pki. Nothing it makes is checked in, so no
// fixture ages.
package rendertest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// RepoRoot is the repository's root directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("rendertest: cannot find the source directory")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Example reads examples/NAME.
func Example(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// WritePlan writes plan text into a new temporary directory as kismatic-cluster.yaml,
// with an SSH key (kismaticuser.key and .pub) beside it, and returns the plan's path.
func WritePlan(t testing.TB, text []byte) string {
	t.Helper()
	dir := t.TempDir()
	WriteKey(t, filepath.Join(dir, "kismaticuser.key"))
	path := filepath.Join(dir, plan.DefaultPlanFileName)
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteKey writes a new ed25519 private key at path (OpenSSH form) and its .pub.
func WriteKey(t testing.TB, path string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sp), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Load loads and validates the plan at path; any error finding fails the test.
func Load(t testing.TB, path string) *plan.Plan {
	t.Helper()
	p, rep, err := plan.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsFatal(false) {
		var b strings.Builder
		_ = rep.WriteText(&b, nil)
		t.Fatalf("plan %s is invalid:\n%s", path, b.String())
	}
	return p
}

// ExamplePlan is WritePlan and Load of examples/NAME, after applying edits (old → new
// text replacements, each of which must match).
func ExamplePlan(t testing.TB, name string, edits ...string) *plan.Plan {
	t.Helper()
	text := string(Example(t, name))
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(text, edits[i]) {
			t.Fatalf("rendertest: %s does not contain %q", name, edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	return Load(t, WritePlan(t, []byte(text)))
}

// StateDir is the default state directory beside a plan.
func StateDir(p *plan.Plan) string {
	return filepath.Join(filepath.Dir(p.File), plan.DefaultStateDirName)
}

// Bundle issues the plan's PKI in its default state directory.
func Bundle(t testing.TB, p *plan.Plan) *pki.Bundle {
	t.Helper()
	b, _, err := pki.Ensure(p, StateDir(p), pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// LargePlan returns a plan with 3 etcd nodes, 3 masters behind a load balancer and
// workers up to nodes in total, on a /12 pod range (room for 16,384 node blocks), with
// or without the managed hosts block.
func LargePlan(nodes int, hostsBlock bool) []byte {
	var b strings.Builder
	ip := func(i int) string { return fmt.Sprintf("10.%d.%d.%d", 100+i/65536, (i/256)%256, i%256) }
	fmt.Fprintf(&b, `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: large
  networking:
    pod_cidr_block: 172.16.0.0/12
    service_cidr_block: 10.96.0.0/16
    update_hosts_files: %t
  ssh:
    user: kismaticuser
    ssh_key: kismaticuser.key
provider:
  name: qemu
  qemu:
    ssh_base_port: 1024
add_ons:
  cni:
    provider: calico
etcd:
  expected_count: 3
  nodes:
`, hostsBlock)
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "  - host: etcd%d\n    ip: %s\n", i, ip(10+i))
	}
	fmt.Fprintf(&b, "master:\n  expected_count: 3\n  load_balancer: 10.99.0.1:6443\n  nodes:\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "  - host: master%d\n    ip: %s\n", i, ip(20+i))
	}
	workers := nodes - 6
	fmt.Fprintf(&b, "worker:\n  expected_count: %d\n  nodes:\n", workers)
	for i := 1; i <= workers; i++ {
		fmt.Fprintf(&b, "  - host: worker%d\n    ip: %s\n", i, ip(100+i))
	}
	return []byte(b.String())
}

// LoadLarge writes and loads LargePlan; warnings (a big cluster with managed hosts
// files) are allowed.
func LoadLarge(t testing.TB, nodes int, hostsBlock bool) *plan.Plan {
	t.Helper()
	return Load(t, WritePlan(t, LargePlan(nodes, hostsBlock)))
}

// MirrorURL is the mirror MirrorPlan's plans name.
const MirrorURL = "http://mirror.example.com:8080"

// MirrorPlan is ExamplePlan with a mirror as `kisgen mirror build` leaves it for the
// plan's nodes: mirror.url, and mirror.checksums (mirror/SHA256SUMS beside the plan)
// listing the files the nodes share (roles.SharedFiles), written under mirror/ too. Its
// nodes download those files instead of carrying them. The example must have no mirror.
func MirrorPlan(t testing.TB, name string, edits ...string) *plan.Plan {
	t.Helper()
	edits = append(edits, "provider:\n", "mirror:\n  url: "+MirrorURL+"\nprovider:\n")
	p := ExamplePlan(t, name, edits...)
	files, err := roles.SharedFiles(p, roles.Inputs{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(p.File)
	var sums strings.Builder
	for _, f := range files {
		path := roles.NodeFileMirrorPath(f.SHA256)
		dst := filepath.Join(dir, "mirror", filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(f.Content), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256, path)
	}
	if err := os.WriteFile(filepath.Join(dir, "mirror", "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(p.File)
	if err != nil {
		t.Fatal(err)
	}
	text = []byte(strings.Replace(string(text), "  url: "+MirrorURL+"\n", "  url: "+MirrorURL+"\n  checksums: mirror/SHA256SUMS\n", 1))
	if err := os.WriteFile(p.File, text, 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(t, p.File)
}

// Models builds the model of every node of p, in plan order, with p's PKI issued in its
// default state directory and its inputs read from beside it; the cluster's warnings
// come with them.
func Models(t testing.TB, p *plan.Plan) ([]*roles.Node, []string) {
	t.Helper()
	in, err := roles.LoadInputs(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := roles.NewCluster(p, Bundle(t, p), in)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*roles.Node, len(p.Nodes))
	for i, n := range p.Nodes {
		if out[i], err = c.Node(n); err != nil {
			t.Fatal(err)
		}
	}
	return out, c.Warnings()
}
