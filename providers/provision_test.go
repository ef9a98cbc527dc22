package providers

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
)

const testPlan = `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: lab
  ssh: {user: kismaticuser, ssh_key: kismaticuser.key, ssh_port: 2222}
etcd:
  expected_count: 1
  nodes:
  - {host: etcd1, ip: 10.30.0.11}
master:
  expected_count: 1
  nodes:
  - {host: master1, ip: 10.30.0.21}
worker:
  expected_count: 1
  nodes:
  - {host: worker1, ip: 10.30.0.31}
`

func parsePlan(t *testing.T, yaml string) *plan.Plan {
	t.Helper()
	p, rep := plan.Parse("plan.yaml", []byte(yaml), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

// fakeProvider returns what it is told to: the shape of every real provider's result.
type fakeProvider struct {
	name    string
	result  []Instance
	err     error
	destroy error
	// limits, findings and found are what Limits, Validate and Inventory answer.
	limits   Limits
	findings []report.Finding
	found    []Found
	// provisioned counts the calls of Provision.
	provisioned int
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) Limits(*plan.Plan) Limits {
	if f.limits.Formats == nil {
		return Limits{Formats: []plan.Format{plan.FormatCloudInit, plan.FormatIgnition}}
	}
	return f.limits
}
func (f *fakeProvider) Validate(*plan.Plan, Options) []report.Finding { return f.findings }
func (f *fakeProvider) Inventory(context.Context, *plan.Plan, Options) ([]Found, error) {
	return f.found, nil
}
func (f *fakeProvider) Provision(context.Context, *plan.Plan, []Machine, Options) ([]Instance, error) {
	f.provisioned++
	return f.result, f.err
}
func (f *fakeProvider) Destroy(context.Context, *plan.Plan, Options) error { return f.destroy }

var _ Provider = (*fakeProvider)(nil)

// clock makes the record's times known: each call is a minute later.
func clock(t *testing.T) {
	t.Helper()
	at := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	now = func() time.Time { at = at.Add(time.Minute); return at }
	t.Cleanup(func() { now = time.Now })
}

func TestProvisionRecordsEveryMachineOnce(t *testing.T) {
	clock(t)
	p := parsePlan(t, testPlan)
	state := t.TempDir()
	keys := map[string]string{"etcd1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdMmKpUXLzGjbz1Oe9SvCybvEbhTJ6yLcdC8LUh5l7W", "master1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8ZgxK4gl0ye4fnzuKGyLjbVzmkBvKxZmAT2NzrxaAI", "worker1": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPJmAbT2ep9AADnLKGu4yD6ZdqKEDCSB0o2fVTCkf2PS"}
	prov := &fakeProvider{name: "aws", result: []Instance{
		{Host: "worker1", ID: "i-3", SSHAddr: "203.0.113.31:2222", Created: true},
		{Host: "etcd1", ID: "i-1", SSHAddr: "10.30.0.11:2222", Created: true},
		{Host: "master1", ID: "i-2", Created: true}, // no address reported: the plan's
	}}
	opts := Options{StateDir: state, HostKeys: keys}
	if _, err := Provision(context.Background(), prov, p, nil, opts); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(instances.Path(state))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := instances.LoadFor(state, "lab", "aws")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 12, 4, 21, 1, 0, 0, time.UTC)
	want := []instances.Instance{
		{Node: "etcd1", Machine: "i-1", SSHAddress: "10.30.0.11:2222", HostKey: keys["etcd1"], RecordedAt: t1},
		{Node: "master1", Machine: "i-2", SSHAddress: "10.30.0.21:2222", HostKey: keys["master1"], RecordedAt: t1},
		{Node: "worker1", Machine: "i-3", SSHAddress: "203.0.113.31:2222", HostKey: keys["worker1"], RecordedAt: t1},
	}
	if d := cmp.Diff(want, rec.Instances); d != "" {
		t.Errorf("record (-want +got)\n%s", d)
	}

	// A second run that finds the same machines writes the same bytes, times included.
	for i := range prov.result {
		prov.result[i].Created = false
	}
	if _, err := Provision(context.Background(), prov, p, nil, opts); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(instances.Path(state))
	if !bytes.Equal(first, second) {
		t.Errorf("a run that changed nothing rewrote the record:\n%s\n%s", first, second)
	}
}

func TestProvisionMergesWithWhatWasRecorded(t *testing.T) {
	clock(t)
	p := parsePlan(t, testPlan)
	newKey := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPJmAbT2ep9AADnLKGu4yD6ZdqKEDCSB0o2fVTCkf2PS"
	oldKey := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdMmKpUXLzGjbz1Oe9SvCybvEbhTJ6yLcdC8LUh5l7W"
	earlier := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	prev := instances.Record{Cluster: "lab", Provider: "vsphere", Instances: []instances.Instance{
		{Node: "etcd1", Machine: "vm-1", SSHAddress: "10.30.0.11:2222", HostKey: oldKey, RecordedAt: earlier},
		{Node: "master1", Machine: "vm-2", SSHAddress: "10.30.0.21:2222", HostKey: oldKey, RecordedAt: earlier},
		{Node: "worker1", Machine: "vm-3", SSHAddress: "10.30.0.31:2222", HostKey: oldKey, RecordedAt: earlier},
		{Node: "worker9", Machine: "vm-9", SSHAddress: "10.30.0.39:2222", HostKey: oldKey, RecordedAt: earlier},
	}}
	state := t.TempDir()
	if err := instances.Save(state, prev); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("worker1: power on: no licence")
	prov := &fakeProvider{name: "vsphere", err: boom, result: []Instance{
		{Host: "etcd1", ID: "vm-1", SSHAddr: "10.30.0.11:2222"},                  // kept: still runs the old key
		{Host: "master1", ID: "vm-7", SSHAddr: "10.30.0.21:2222", Created: true}, // re-created: the key it got now
		{Host: "worker1"}, // failed before a machine existed
	}}
	keys := map[string]string{"etcd1": newKey, "master1": newKey, "worker1": newKey}
	_, err := Provision(context.Background(), prov, p, nil, Options{StateDir: state, HostKeys: keys})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the provider's", err)
	}
	rec, err := instances.LoadFor(state, "lab", "vsphere")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Date(2026, 12, 4, 21, 1, 0, 0, time.UTC)
	want := []instances.Instance{
		prev.Instances[0],
		{Node: "master1", Machine: "vm-7", SSHAddress: "10.30.0.21:2222", HostKey: newKey, RecordedAt: t1},
		prev.Instances[2], // worker9 left the plan, and the record
	}
	if d := cmp.Diff(want, rec.Instances); d != "" {
		t.Errorf("record (-want +got)\n%s", d)
	}
}

func TestProvisionByAnotherProviderReplacesTheRecord(t *testing.T) {
	clock(t)
	p := parsePlan(t, testPlan)
	state := t.TempDir()
	if err := instances.Save(state, instances.Record{Cluster: "lab", Provider: "qemu", Instances: []instances.Instance{
		{Node: "worker1", Machine: "lab-worker1", SSHAddress: "127.0.0.1:2203"},
	}}); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	prov := &fakeProvider{name: "pxe", result: []Instance{{Host: "etcd1", ID: "52:54:00:00:00:11", SSHAddr: "10.30.0.11:2222"}}}
	if _, err := Provision(context.Background(), prov, p, nil, Options{StateDir: state, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	rec, err := instances.LoadFor(state, "lab", "pxe")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Instances) != 1 || rec.Instances[0].Node != "etcd1" {
		t.Errorf("record %+v, want pxe's etcd1 only", rec.Instances)
	}
	if !strings.Contains(progress.String(), "listed the machines qemu booted for cluster lab; it now lists pxe's") {
		t.Errorf("progress does not say the record changed hands:\n%s", progress.String())
	}
}

func TestProvisionThatCreatedNothingWritesNoRecord(t *testing.T) {
	state := t.TempDir()
	boom := errors.New("subnet not found")
	_, err := Provision(context.Background(), &fakeProvider{name: "aws", err: boom}, parsePlan(t, testPlan), nil, Options{StateDir: state})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(instances.Path(state)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a record was written: %v", err)
	}
}

func TestProvisionReplacesAnUnreadableRecord(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(instances.Path(state), []byte("{{"), 0o600); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	prov := &fakeProvider{name: "aws", result: []Instance{{Host: "etcd1", ID: "i-1", Created: true}}}
	if _, err := Provision(context.Background(), prov, parsePlan(t, testPlan), nil, Options{StateDir: state, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	if _, err := instances.LoadFor(state, "lab", "aws"); err != nil {
		t.Error(err)
	}
	if !strings.Contains(progress.String(), "replacing an unreadable instances record") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestDestroyRemovesTheRecordOnlyWhenItSucceeds(t *testing.T) {
	p := parsePlan(t, testPlan)
	state := t.TempDir()
	save := func() {
		t.Helper()
		if err := instances.Save(state, instances.Record{Cluster: "lab", Provider: "aws", Instances: []instances.Instance{{Node: "etcd1", Machine: "i-1", SSHAddress: "10.30.0.11:2222"}}}); err != nil {
			t.Fatal(err)
		}
	}
	save()
	boom := errors.New("instance i-1 is protected")
	if err := Destroy(context.Background(), &fakeProvider{name: "aws", destroy: boom}, p, Options{StateDir: state}); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	if _, err := instances.Load(state); err != nil {
		t.Errorf("a failed destroy removed the record: %v", err)
	}
	if err := Destroy(context.Background(), &fakeProvider{name: "aws"}, p, Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := instances.Load(state); !errors.Is(err, instances.ErrNoRecord) {
		t.Errorf("after destroy: %v", err)
	}
}

func TestSSHAddress(t *testing.T) {
	p := parsePlan(t, testPlan)
	n := p.Node("worker1") // ip 10.30.0.31, ssh_port 2222
	cases := []struct {
		name     string
		reported []string
		want     string
	}{
		{"nothing reported: the plan's ip", nil, "10.30.0.31:2222"},
		{"only empty addresses: the plan's ip", []string{"", ""}, "10.30.0.31:2222"},
		{"the machine holds the plan's ip as its private address", []string{"54.1.2.3", "10.30.0.31"}, "10.30.0.31:2222"},
		{"the plan's ip is not the machine's: its public address", []string{"54.1.2.3", "172.31.0.9"}, "54.1.2.3:2222"},
		{"no public address: the private one", []string{"", "172.31.0.9"}, "172.31.0.9:2222"},
		{"IPv6 is bracketed", []string{"2001:db8::31"}, "[2001:db8::31]:2222"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SSHAddress(p, n, tc.reported...); got != tc.want {
				t.Errorf("SSHAddress = %s, want %s", got, tc.want)
			}
		})
	}
}
