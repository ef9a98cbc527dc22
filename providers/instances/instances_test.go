package instances

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/verify/sshdtest"
)

var at = time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)

func sample(t *testing.T) Record {
	keys := sshdtest.HostKeyLines(t, "worker1", "etcd1")
	return Record{Cluster: "prod", Provider: "aws", Instances: []Instance{
		{Node: "worker1", Machine: "i-3", SSHAddress: "203.0.113.31:22", HostKey: keys["worker1"], RecordedAt: at},
		{Node: "etcd1", Machine: "i-1", SSHAddress: "[2001:db8::11]:2222", HostKey: keys["etcd1"], RecordedAt: at},
		{Node: "master1", Machine: "i-2", SSHAddress: "10.20.0.21:22", RecordedAt: at},
	}}
}

func TestSaveThenLoadGivesTheRecordSortedAndVersioned(t *testing.T) {
	state := t.TempDir()
	rec := sample(t)
	if err := Save(state, rec); err != nil {
		t.Fatal(err)
	}
	got, err := Load(state)
	if err != nil {
		t.Fatal(err)
	}
	want := rec
	want.APIVersion, want.Kind = APIVersion, Kind
	want.Instances = []Instance{rec.Instances[1], rec.Instances[2], rec.Instances[0]}
	if d := cmp.Diff(want, *got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if n, ok := got.Node("master1"); !ok || n.Machine != "i-2" {
		t.Errorf("Node(master1) = %+v, %v", n, ok)
	}
	if _, ok := got.Node("worker9"); ok {
		t.Error("Node(worker9) found")
	}
	fi, err := os.Stat(Path(state))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	data, _ := os.ReadFile(Path(state))
	for _, s := range []string{`"apiVersion": "kisgen.io/v1alpha1"`, `"kind": "Instances"`, `"recordedAt": "2026-12-04T21:00:00Z"`} {
		if !strings.Contains(string(data), s) {
			t.Errorf("record lacks %s:\n%s", s, data)
		}
	}
}

func TestMarshalIsTheSameWhateverTheOrder(t *testing.T) {
	rec := sample(t)
	a, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rev := rec
	rev.Instances = []Instance{rec.Instances[2], rec.Instances[0], rec.Instances[1]}
	b, err := rev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("different bytes for the same record:\n%s\n%s", a, b)
	}
	if rec.Instances[0].Node != "worker1" {
		t.Error("Marshal sorted the caller's slice")
	}
}

func TestLoadRefusesWhatVerifyCouldNotUse(t *testing.T) {
	key := sshdtest.HostKeyLines(t, "etcd1")["etcd1"]
	cases := []struct {
		name, doc, want string
	}{
		{"not JSON", `{{`, "invalid character"},
		{"unknown field", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[],"network":"x"}`, `unknown field "network"`},
		{"a provider's private record", `{"provider":"qemu","cluster":"c","instances":[{"host":"etcd1","sshAddr":"127.0.0.1:2201"}]}`, `unknown field "host"`},
		{"another version", `{"apiVersion":"kisgen.io/v2","kind":"Instances","cluster":"c","provider":"qemu","instances":[]}`, `apiVersion "kisgen.io/v2"`},
		{"another kind", `{"apiVersion":"kisgen.io/v1alpha1","kind":"ClusterPlan","cluster":"c","provider":"qemu","instances":[]}`, `kind "ClusterPlan"`},
		{"no provider", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","instances":[]}`, "cluster and provider are required"},
		{"no machine", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[{"node":"etcd1","sshAddress":"127.0.0.1:22"}]}`, "instances[0] (etcd1): node and machine are required"},
		{"node twice", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[{"node":"etcd1","machine":"a","sshAddress":"127.0.0.1:22"},{"node":"etcd1","machine":"b","sshAddress":"127.0.0.1:23"}]}`, "instances[1] (etcd1): node listed twice"},
		{"address without port", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[{"node":"etcd1","machine":"a","sshAddress":"127.0.0.1"}]}`, `sshAddress "127.0.0.1": address 127.0.0.1: missing port`},
		{"port out of range", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[{"node":"etcd1","machine":"a","sshAddress":"127.0.0.1:70000"}]}`, "port must be a number from 1 to 65535"},
		{"host key not a key", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[{"node":"etcd1","machine":"a","sshAddress":"127.0.0.1:22","hostKey":"ssh-ed25519 nope"}]}`, "hostKey is not one authorized_keys line"},
		{"two host keys in one", `{"apiVersion":"kisgen.io/v1alpha1","kind":"Instances","cluster":"c","provider":"qemu","instances":[{"node":"etcd1","machine":"a","sshAddress":"127.0.0.1:22","hostKey":"` + key + `\n` + key + `"}]}`, "more than one key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if err := os.WriteFile(Path(state), []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(state)
			if !errors.Is(err, ErrBadRecord) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), Path(state)) {
				t.Errorf("err %v; want ErrBadRecord naming the file and %q", err, tc.want)
			}
		})
	}
	t.Run("Save refuses the same", func(t *testing.T) {
		rec := sample(t)
		rec.Instances[1].SSHAddress = "etcd1"
		if err := Save(t.TempDir(), rec); !errors.Is(err, ErrBadRecord) {
			t.Errorf("err %v, want ErrBadRecord", err)
		}
	})
}

func TestLoadForSaysWhichProvisionToRun(t *testing.T) {
	state := t.TempDir()
	_, err := LoadFor(state, "prod", "vsphere")
	if !errors.Is(err, ErrNoRecord) || !strings.Contains(err.Error(), "run `kisgen provision vsphere` first") {
		t.Errorf("no record: %v", err)
	}
	if err := Save(state, sample(t)); err != nil {
		t.Fatal(err)
	}
	if r, err := LoadFor(state, "prod", "aws"); err != nil || len(r.Instances) != 3 {
		t.Errorf("the record's own provider: %v", err)
	}
	_, err = LoadFor(state, "prod", "vsphere")
	if !errors.Is(err, ErrOtherProvider) || !strings.Contains(err.Error(), "booted by aws, not vsphere") || !strings.Contains(err.Error(), "--provider aws") {
		t.Errorf("other provider: %v", err)
	}
	_, err = LoadFor(state, "staging", "aws")
	if !errors.Is(err, ErrOtherCluster) || !strings.Contains(err.Error(), `cluster "prod", the plan is cluster "staging"`) {
		t.Errorf("other cluster: %v", err)
	}
}

func TestRemoveDeletesOnlyTheRecordOfTheDestroyedMachines(t *testing.T) {
	cases := []struct {
		name, cluster, provider string
		gone                    bool
	}{
		{"same cluster and provider", "prod", "aws", true},
		{"another provider", "prod", "qemu", false},
		{"another cluster", "staging", "aws", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if err := Save(state, sample(t)); err != nil {
				t.Fatal(err)
			}
			if err := Remove(state, tc.cluster, tc.provider); err != nil {
				t.Fatal(err)
			}
			_, err := os.Stat(Path(state))
			if gone := errors.Is(err, os.ErrNotExist); gone != tc.gone {
				t.Errorf("record removed: %v, want %v", gone, tc.gone)
			}
		})
	}
	if err := Remove(t.TempDir(), "prod", "aws"); err != nil {
		t.Errorf("no record: %v", err)
	}
}
