package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/intent"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/render"
)

// TestKubeconfigAndStatus: kubeconfig points the admin credential at the master's port
// forward the instances record names; status compares the rendered user-data with the
// record of intent (new, in-sync, changed, removed) and says when the API cannot be asked.
func TestKubeconfigAndStatus(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	state := filepath.Join(filepath.Dir(path), "generated")
	if code, o, e := run(t, nil, "render", "-f", path); code != ExitOK {
		t.Fatalf("render: exit %d\n%s%s", code, o, e)
	}
	if err := instances.Save(state, instances.Record{Cluster: "minimal", Provider: "qemu", Instances: []instances.Instance{
		{Node: "master1", Machine: "kisgen-minimal-master1", SSHAddress: "127.0.0.1:2221", APIAddress: "127.0.0.1:1"}}}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, nil, "kubeconfig", "-f", path)
	if code != ExitOK || !strings.Contains(out, "server: https://127.0.0.1:1\n") || !strings.Contains(out, "client-key-data:") {
		t.Fatalf("kubeconfig: exit %d\n%s%s", code, out, errOut)
	}
	dest := filepath.Join(t.TempDir(), "admin.conf")
	if code, _, e := run(t, nil, "kubeconfig", "-f", path, "--out", dest); code != ExitOK {
		t.Fatalf("kubeconfig --out: exit %d\n%s", code, e)
	}
	if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("written kubeconfig: %v %v", st, err)
	}
	if err := os.WriteFile(dest, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, e := run(t, nil, "kubeconfig", "-f", path, "--out", dest); code != ExitFail || !strings.Contains(e, "--force") {
		t.Errorf("a different file was replaced without --force: exit %d\n%s", code, e)
	}

	rendered, err := render.LoadRecord(state)
	if err != nil {
		t.Fatal(err)
	}
	rec := &intent.Record{Cluster: "minimal", Nodes: map[string]intent.Node{
		"master1": {Roles: []string{"master"}, Fingerprint: rendered.Nodes["master1"].SHA256},
		"worker1": {Roles: []string{"worker"}, Fingerprint: "0123456789abcdef"},
		"worker9": {Roles: []string{"worker"}, Fingerprint: "fedcba9876543210"},
	}}
	if err := intent.Save(state, rec); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, nil, "status", "-f", path, "--timeout", "2s")
	if code != ExitOK {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"etcd1    etcd    new", "master1  master  in-sync", "worker1  worker  changed", "worker9  worker  removed"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "what runs is unknown: https://127.0.0.1:1") {
		t.Errorf("status does not say the API could not be asked:\n%s", errOut)
	}

	// --replace and --prune name the machines they would remove and, without a terminal
	// and without --yes, remove nothing.
	code, out, errOut = run(t, strings.NewReader("yes\n"), "provision", "qemu", "--replace", "--prune", "-f", path)
	if code != ExitUsage || !strings.Contains(errOut, "confirm with --yes") || !strings.Contains(errOut, "create again the machines of worker1") ||
		!strings.Contains(errOut, "remove the machines of worker9") {
		t.Errorf("provision --replace --prune without --yes: exit %d\n%s%s", code, out, errOut)
	}
	if after, err := intent.Load(state); err != nil || after.Nodes["worker9"].Fingerprint != "fedcba9876543210" || after.Nodes["worker1"].Fingerprint != "0123456789abcdef" {
		t.Errorf("the record of intent changed: %+v %v", after, err)
	}
}

// TestDestroyAsksForConfirmation: without a terminal and without --yes, destroy removes
// nothing and says how to confirm.
func TestDestroyAsksForConfirmation(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	code, out, errOut := run(t, strings.NewReader("yes\n"), "provision", "qemu", "--destroy", "-f", path)
	if code != ExitUsage || !strings.Contains(errOut, "confirm with --yes") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run(t, nil, "provision", "qemu", "--destroy", "--replace", "-f", path); code != ExitUsage || !strings.Contains(errOut, "not with --destroy") {
		t.Errorf("--destroy --replace: exit %d\n%s", code, errOut)
	}
}
