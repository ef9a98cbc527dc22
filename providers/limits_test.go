package providers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

func TestCheckReportsGroupsInAFormatTheProviderDoesNotBoot(t *testing.T) {
	p := parsePlan(t, strings.Replace(testPlan, "etcd:\n  expected_count: 1\n", "etcd:\n  expected_count: 1\n  os: flatcar\n", 1))
	prov := &fakeProvider{name: "qemu", limits: Limits{Formats: []plan.Format{plan.FormatCloudInit}},
		findings: []report.Finding{p.Finding(report.Error, "provider.qemu", "the provider's own finding", "do this")}}
	rep := Check(prov, p, Options{})
	var got []string
	for _, f := range rep.Findings {
		got = append(got, f.String())
	}
	want := []string{
		"plan.yaml:1:1: error: provider.qemu: the provider's own finding\n    hint: do this",
		"plan.yaml:8:7: error: etcd.os: the qemu provider boots cloud-init user-data; the etcd group's os flatcar gets ignition\n    hint: use an os whose machines read cloud-init, or another provider (the providers and the formats they boot are listed in docs/providers.md)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestProvisionRefusesUserDataOverTheLimitBeforeTheProvider(t *testing.T) {
	p := parsePlan(t, testPlan)
	prov := &fakeProvider{name: "aws", limits: Limits{Formats: []plan.Format{plan.FormatCloudInit}, MaxUserData: 100,
		Measure: func(m Machine) int { return len(m.UserData) * 2 }, Counted: "doubled bytes", Remedy: "send less"}}
	var ms []Machine
	for _, n := range p.Nodes {
		ms = append(ms, Machine{Node: n, UserData: []byte(strings.Repeat("x", 40)), Format: plan.FormatCloudInit})
	}
	ms[1].UserData = []byte(strings.Repeat("x", 60)) // 120 as the provider counts
	ms[2].Format = plan.FormatIgnition
	_, err := Provision(context.Background(), prov, p, ms, Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrUserDataTooLarge) || !errors.Is(err, ErrFormat) {
		t.Fatalf("got %v, want ErrUserDataTooLarge and ErrFormat", err)
	}
	for _, s := range []string{"node master1: its user-data is 60 bytes, 120 doubled bytes as the aws provider sends it, and it takes 100: send less",
		"node worker1: its user-data is ignition; the aws provider boots cloud-init"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%v\ndoes not say %q", err, s)
		}
	}
	if prov.provisioned != 0 {
		t.Error("the provider was asked to provision")
	}
}

func TestPreviewSaysWhatProvisionAndDestroyWouldDo(t *testing.T) {
	p := parsePlan(t, testPlan)
	prov := &fakeProvider{name: "aws", found: []Found{
		{Host: "worker1", ID: "i-3", State: "running", Recorded: true},
		{Host: "master1", ID: "i-2", State: "stopped", Recorded: true, Stopped: true},
		{Host: "old1", ID: "i-9", State: "running", Recorded: true},
		{Host: "extra1", ID: "i-7", State: "running"},
	}}
	got, err := Preview(context.Background(), prov, p, Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Host: "etcd1", Action: ActionCreate},
		{Host: "master1", Action: ActionStart, ID: "i-2", State: "stopped"},
		{Host: "worker1", Action: ActionKeep, ID: "i-3", State: "running"},
		{Host: "extra1", Action: ActionLeave, ID: "i-7", State: "running", Note: "not in the plan: provision leaves it (--destroy removes what kisgen created)"},
		{Host: "old1", Action: ActionLeave, ID: "i-9", State: "running", Note: "not in the plan: provision leaves it (--destroy removes what kisgen created)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("provision (-want +got):\n%s", diff)
	}
	got, err = Preview(context.Background(), prov, p, Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	want = []Change{
		{Host: "master1", Action: ActionRemove, ID: "i-2", State: "stopped"},
		{Host: "worker1", Action: ActionRemove, ID: "i-3", State: "running"},
		{Host: "extra1", Action: ActionLeave, ID: "i-7", State: "running", Note: "tagged for the cluster but not in kisgen's record: destroy lists it and fails (--from-tags removes it)"},
		{Host: "old1", Action: ActionRemove, ID: "i-9", State: "running"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("destroy (-want +got):\n%s", diff)
	}
	got, _ = Preview(context.Background(), prov, p, Options{FromTags: true}, true)
	if got[2].Action != ActionRemove {
		t.Errorf("destroy --from-tags leaves %+v", got[2])
	}
}

// TestPreviewListsResourcesAfterTheMachines: a provider's resources that are no node's
// machine (AWS's API load balancer) are listed after the machines, by what they are and
// their name: created when planned and missing, kept, left when the plan asks for none;
// removed or left by destroy like machines.
func TestPreviewListsResourcesAfterTheMachines(t *testing.T) {
	p := parsePlan(t, testPlan)
	prov := &fakeProvider{name: "aws", found: []Found{
		{Resource: "target group", Host: "kisgen-test-api", Planned: true, Note: "tcp 6443"},
		{Host: "worker1", ID: "i-3", State: "running", Recorded: true},
		{Resource: "load balancer", Host: "kisgen-test-api", ID: "arn:lb", State: "active", Recorded: true, Planned: true, Note: "internal"},
		{Resource: "load balancer", Host: "by-hand", ID: "arn:other", State: "active", Note: "internal"},
	}}
	got, err := Preview(context.Background(), prov, p, Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Host: "etcd1", Action: ActionCreate},
		{Host: "master1", Action: ActionCreate},
		{Host: "worker1", Action: ActionKeep, ID: "i-3", State: "running"},
		{Host: "target group kisgen-test-api", Action: ActionCreate, Note: "tcp 6443"},
		{Host: "load balancer kisgen-test-api", Action: ActionKeep, ID: "arn:lb", State: "active", Note: "internal"},
		{Host: "load balancer by-hand", Action: ActionLeave, ID: "arn:other", State: "active", Note: "the plan asks for none: provision leaves it (--destroy removes what kisgen created); internal"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("provision (-want +got):\n%s", diff)
	}
	got, err = Preview(context.Background(), prov, p, Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	want = []Change{
		{Host: "worker1", Action: ActionRemove, ID: "i-3", State: "running"},
		{Host: "load balancer kisgen-test-api", Action: ActionRemove, ID: "arn:lb", State: "active", Note: "internal"},
		{Host: "load balancer by-hand", Action: ActionLeave, ID: "arn:other", State: "active", Note: "tagged for the cluster but not in kisgen's record: destroy lists it and fails (--from-tags removes it); internal"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("destroy (-want +got):\n%s", diff)
	}
}
