package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/intent"
	"github.com/kisgen/kisgen/plan"
)

// machineProvider behaves as providers do: machines are found by host, Provision creates
// the missing ones and keeps the others, Remove deletes single machines. Every call is
// logged, in order, with the cluster's steps.
type machineProvider struct {
	fakeProvider
	machines map[string]string // host -> machine id
	serial   int
	log      *[]string
}

func (m *machineProvider) Provision(_ context.Context, p *plan.Plan, ms []Machine, _ Options) ([]Instance, error) {
	var out []Instance
	// Like qemu's, the machines it finds of hosts no longer in the plan are listed too.
	for _, h := range slices.Sorted(maps.Keys(m.machines)) {
		if p.Node(h) == nil {
			out = append(out, Instance{Host: h, ID: m.machines[h]})
		}
	}
	for _, mc := range ms {
		h := mc.Node.Host
		if id, ok := m.machines[h]; ok {
			out = append(out, Instance{Host: h, ID: id})
			continue
		}
		m.serial++
		m.machines[h] = fmt.Sprintf("vm-%d", m.serial)
		*m.log = append(*m.log, "create "+h)
		out = append(out, Instance{Host: h, ID: m.machines[h], Created: true})
	}
	return out, nil
}

func (m *machineProvider) Remove(_ context.Context, _ *plan.Plan, hosts []string, _ Options) error {
	for _, h := range hosts {
		delete(m.machines, h)
		*m.log = append(*m.log, "remove "+h)
	}
	return nil
}

type clusterLog struct {
	log      *[]string
	failJoin string
}

func (c *clusterLog) Leave(_ context.Context, host string, _ []string, replaced bool) error {
	*c.log = append(*c.log, fmt.Sprintf("leave %s replaced=%v", host, replaced))
	return nil
}

func (c *clusterLog) Joined(_ context.Context, host string, _ []string) error {
	*c.log = append(*c.log, "joined "+host)
	if host == c.failJoin {
		return errors.New("node not Ready after 10m")
	}
	return nil
}

// TestProvisionReplacesAndPrunesOneAtATime: new nodes get machines and unchanged ones
// are left alone; with --replace the machines whose user-data changed are replaced one
// at a time, etcd first, each drained before and waited for after; with --prune the
// nodes no longer in the plan are drained and removed; a failed step stops the run,
// says why, and a second run resumes with what is left. The record of intent keeps
// every machine's fingerprint and the history.
func TestProvisionReplacesAndPrunesOneAtATime(t *testing.T) {
	state := t.TempDir()
	var log []string
	prov := &machineProvider{fakeProvider: fakeProvider{name: "qemu"}, machines: map[string]string{}, log: &log}
	cl := &clusterLog{log: &log}
	p := parsePlan(t, testPlan)
	userData := map[string]string{"etcd1": "a", "master1": "a", "worker1": "a"}
	machines := func(p *plan.Plan) []Machine {
		var out []Machine
		for _, n := range p.Nodes {
			out = append(out, Machine{Node: n, UserData: []byte(userData[n.Host]), Format: plan.FormatCloudInit})
		}
		return out
	}
	var listed []Instance
	run := func(p *plan.Plan, replace, prune bool) (string, error) {
		t.Helper()
		log = nil
		var progress bytes.Buffer
		var err error
		listed, err = Provision(context.Background(), prov, p, machines(p), Options{StateDir: state, Progress: &progress,
			Replace: replace, Prune: prune, Cluster: cl, EtcdInitialCluster: "etcd1=https://10.30.0.11:2380", PlanText: []byte("plan")})
		return progress.String(), err
	}

	if _, err := run(p, false, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create etcd1", "create master1", "create worker1"}, log); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	rec, err := intent.Load(state)
	if err != nil || rec.EtcdInitialCluster != "etcd1=https://10.30.0.11:2380" || rec.Nodes["worker1"].Fingerprint != Fingerprint([]byte("a")) {
		t.Fatalf("record of intent %+v, %v", rec, err)
	}

	// A worker joins: only it gets a machine.
	p2 := parsePlan(t, strings.Replace(testPlan, "  expected_count: 1\n  nodes:\n  - {host: worker1, ip: 10.30.0.31}\n",
		"  expected_count: 2\n  nodes:\n  - {host: worker1, ip: 10.30.0.31}\n  - {host: worker2, ip: 10.30.0.32}\n", 1))
	userData["worker2"] = "a"
	if _, err := run(p2, true, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"create worker2"}, log); diff != "" {
		t.Errorf("a worker added (-want +got):\n%s", diff)
	}

	// Two nodes' user-data changes: without --replace they are kept and named.
	userData["worker1"], userData["etcd1"] = "b", "b"
	progress, err := run(p2, false, false)
	if err != nil || len(log) != 0 || !strings.Contains(progress, "qemu: etcd1: kept, though its user-data changed since it booted (--replace replaces it)") {
		t.Fatalf("without --replace: %v %v\n%s", err, log, progress)
	}

	// With --replace: etcd first; the new etcd1 does not join, so the run stops there.
	cl.failJoin = "etcd1"
	progress, err = run(p2, true, false)
	var ne *NodeError
	if !errors.As(err, &ne) || ne.Host != "etcd1" || !strings.Contains(err.Error(), "the new machine did not join: node not Ready after 10m") {
		t.Fatalf("err %v\n%s", err, progress)
	}
	if diff := cmp.Diff([]string{"leave etcd1 replaced=true", "remove etcd1", "create etcd1", "joined etcd1"}, log); diff != "" {
		t.Errorf("replace stopping at etcd1 (-want +got):\n%s", diff)
	}
	// Resumed: etcd1 runs its new user-data, worker1 is what is left.
	cl.failJoin = ""
	if _, err := run(p2, true, false); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"leave worker1 replaced=true", "remove worker1", "create worker1", "joined worker1"}, log); diff != "" {
		t.Errorf("resumed (-want +got):\n%s", diff)
	}

	// worker2 leaves the plan: kept without --prune, drained and removed with it.
	if progress, err := run(p, true, false); err != nil || len(log) != 0 || !strings.Contains(progress, "worker2: no longer in the plan, its machine kept (--prune removes it)") {
		t.Fatalf("without --prune: %v %v\n%s", err, log, progress)
	}
	if _, err := run(p, true, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"leave worker2 replaced=false", "remove worker2"}, log); diff != "" {
		t.Errorf("prune (-want +got):\n%s", diff)
	}
	var hosts []string
	for _, in := range listed {
		hosts = append(hosts, in.Host)
	}
	if diff := cmp.Diff([]string{"etcd1", "master1", "worker1"}, hosts); diff != "" {
		t.Errorf("the run's machines after the prune (-want +got):\n%s", diff)
	}
	rec, _ = intent.Load(state)
	if diff := cmp.Diff([]string{"etcd1", "master1", "worker1"}, rec.Hosts()); diff != "" {
		t.Errorf("record of intent (-want +got):\n%s", diff)
	}
	history, err := intent.History(state)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range history {
		got = append(got, ev.Action+" "+ev.Host+" "+ev.Outcome)
	}
	want := []string{"create etcd1 ok", "create master1 ok", "create worker1 ok", "create worker2 ok",
		"replace etcd1 started", "create etcd1 ok", "replace etcd1 failed",
		"replace worker1 started", "create worker1 ok", "replace worker1 ok",
		"remove worker2 started", "remove worker2 ok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// TestReplaceNeedsAProviderThatRemovesMachines: a provider that cannot remove single
// machines refuses --replace before it creates anything.
func TestReplaceNeedsAProviderThatRemovesMachines(t *testing.T) {
	state := t.TempDir()
	p := parsePlan(t, testPlan)
	rec := &intent.Record{Cluster: "lab", Nodes: map[string]intent.Node{"worker1": {Fingerprint: Fingerprint([]byte("old"))}}}
	if err := intent.Save(state, rec); err != nil {
		t.Fatal(err)
	}
	prov := &fakeProvider{name: "pxe"}
	ms := []Machine{{Node: p.Node("worker1"), UserData: []byte("new"), Format: plan.FormatCloudInit}}
	_, err := Provision(context.Background(), prov, p, ms, Options{StateDir: state, Replace: true})
	if !errors.Is(err, ErrUnsupported) || prov.provisioned != 0 {
		t.Fatalf("err %v, provisioned %d times", err, prov.provisioned)
	}
}
