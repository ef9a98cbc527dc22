package pki

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTwoPlansOneStateDir: ha.yaml (cluster production) rendered after minimal.yaml in one directory used
// to reissue ha's certificates under minimal's CA in the shared generated/. The second
// plan is refused, with the way out, and the state is untouched.
func TestTwoPlansOneStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "generated")
	minimal, ha := examplePlan(t, "minimal.yaml"), examplePlan(t, "ha.yaml")
	b, _ := mustEnsure(t, minimal, dir, Options{})
	if len(b.ClusterID()) != 32 {
		t.Errorf("cluster id %q, want 32 hex digits", b.ClusterID())
	}
	before := snapshot(t, dir)
	_, changes, err := Ensure(ha, dir, Options{})
	if !errors.Is(err, ErrOtherCluster) {
		t.Fatalf("Ensure(ha) = %v (%d changes), want ErrOtherCluster", err, len(changes))
	}
	for _, want := range []string{`cluster "minimal"`, `is cluster "production"`, "--state", "generated-production", b.ClusterID()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if diff := cmp.Diff(before, snapshot(t, dir)); diff != "" {
		t.Errorf("the refused plan changed the state (-before +after):\n%s", diff)
	}
	if _, err := StartCARotation(ha, dir, CA, Options{}); !errors.Is(err, ErrOtherCluster) {
		t.Errorf("StartCARotation(ha) = %v, want ErrOtherCluster", err)
	}
	if err := CheckCluster(dir, ha); !errors.Is(err, ErrOtherCluster) {
		t.Errorf("CheckCluster(ha) = %v", err)
	}
	if err := CheckCluster(dir, minimal); err != nil {
		t.Errorf("CheckCluster(minimal) = %v", err)
	}
	// The same plan again keeps its binding, and Load reports the same id.
	b2, changes := mustEnsure(t, minimal, dir, Options{})
	if b2.ClusterID() != b.ClusterID() || len(changes) != 0 {
		t.Errorf("second run: id %s (was %s), %d changes", b2.ClusterID(), b.ClusterID(), len(changes))
	}
	loaded, err := Load(dir)
	if err != nil || loaded.ClusterID() != b.ClusterID() {
		t.Errorf("Load: id %q, %v", loaded.ClusterID(), err)
	}
}

// TestBindingMigration: a state directory made before the binding gets one on first
// use, without a failure or a reissue; unless kisgen's admin kubeconfig in it names
// another cluster, which is the mix-up the binding exists for.
func TestBindingMigration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "generated")
	minimal, ha := examplePlan(t, "minimal.yaml"), examplePlan(t, "ha.yaml")
	mustEnsure(t, minimal, dir, Options{})
	binding := filepath.Join(dir, clusterFile)
	if err := os.Remove(binding); err != nil {
		t.Fatal(err)
	}
	if err := CheckCluster(dir, minimal); err != nil {
		t.Errorf("CheckCluster on an unbound directory: %v", err)
	}
	if _, err := os.Stat(binding); !errors.Is(err, os.ErrNotExist) {
		t.Error("CheckCluster wrote the binding; it only reads")
	}
	if _, _, err := Ensure(ha, dir, Options{}); !errors.Is(err, ErrOtherCluster) || !strings.Contains(err.Error(), "admin.conf") {
		t.Errorf("Ensure(ha) on minimal's unbound directory = %v, want ErrOtherCluster naming admin.conf", err)
	}
	_, changes := mustEnsure(t, minimal, dir, Options{})
	if len(changes) != 0 {
		t.Errorf("migration reissued: %v", changedNames(changes))
	}
	data, err := os.ReadFile(binding)
	if err != nil {
		t.Fatalf("no binding written on first use: %v", err)
	}
	var got Binding
	if err := json.Unmarshal(data, &got); err != nil || got.Cluster != "minimal" || got.ID == "" {
		t.Errorf("binding %s: %+v, %v", data, got, err)
	}
	// A damaged binding is an error that says what to do, not a silent rebind.
	if err := os.WriteFile(binding, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Ensure(minimal, dir, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), clusterFile) {
		t.Errorf("Ensure with a damaged binding = %v", err)
	}
}

// TestKeysOpenToOthersAreTightened: a CA key, a node file and a kubeconfig found
// readable by others are reported and made 0600, by Ensure and by Load.
func TestKeysOpenToOthersAreTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "generated")
	p := examplePlan(t, "minimal.yaml")
	b, _ := mustEnsure(t, p, dir, Options{})
	if len(b.Warnings()) != 0 {
		t.Errorf("fresh state has warnings: %v", b.Warnings())
	}
	exposed := map[string]os.FileMode{
		filepath.Join(dir, pkiDir, "ca-key.pem"):              0o644,
		filepath.Join(dir, nodesDir, "master1.pem"):           0o640,
		filepath.Join(dir, kubeconfigDir, "admin.conf"):       0o604,
		filepath.Join(dir, pkiDir, "service-account-key.pem"): 0o660,
	}
	for _, load := range []bool{false, true} {
		for path, mode := range exposed {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
		}
		var warns []string
		if load {
			b, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			warns = b.Warnings()
		} else {
			b, _ := mustEnsure(t, p, dir, Options{})
			warns = b.Warnings()
		}
		if len(warns) != len(exposed) {
			t.Errorf("load=%v: %d warnings, want %d: %q", load, len(warns), len(exposed), warns)
		}
		for path := range exposed {
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("load=%v: %s mode %v, want 0600", load, path, fi.Mode())
			}
			if !strings.Contains(strings.Join(warns, "\n"), path) {
				t.Errorf("load=%v: no warning names %s", load, path)
			}
		}
	}
}
