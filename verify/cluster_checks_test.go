package verify

import (
	"bytes"
	"strings"
	"testing"
)

// TestClusterChecks: etcd's quorum and leader and the virtual IP's holder are judged from
// what each node's checks found; a node that could not be checked counts as down.
func TestClusterChecks(t *testing.T) {
	etcd := func(host string) Target { return Target{Host: host, Expect: Expectations{Etcd: &EtcdExpect{}}} }
	master := func(host string) Target {
		return Target{Host: host, Expect: Expectations{VirtualIP: &VirtualIPExpect{Address: "10.0.0.20"}}}
	}
	facts := func(kv ...string) NodeResult {
		f := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			f[kv[i]] = kv[i+1]
		}
		return NodeResult{facts: f}
	}
	healthy := func(leader string) NodeResult { return facts(factEtcdHealth, "yes", factEtcdLeader, leader) }
	for _, tc := range []struct {
		name    string
		targets []Target
		nodes   []NodeResult
		want    []string // "name status detail-part"
	}{
		{"three healthy members agree", []Target{etcd("e1"), etcd("e2"), etcd("e3")},
			[]NodeResult{healthy("e2"), healthy("e2"), healthy("e2")},
			[]string{"etcd-quorum pass 3 of 3 members healthy (quorum 2); leader e2"}},
		{"one member down keeps the quorum", []Target{etcd("e1"), etcd("e2"), etcd("e3")},
			[]NodeResult{healthy("e1"), {}, healthy("e1")},
			[]string{"etcd-quorum pass 2 of 3 members healthy (quorum 2); down or not checked: e2; leader e1"}},
		{"two members down lose it", []Target{etcd("e1"), etcd("e2"), etcd("e3")},
			[]NodeResult{healthy(""), {}, {}},
			[]string{"etcd-quorum fail 1 of 3 members healthy (quorum 2); down or not checked: e2, e3: etcd refuses writes"}},
		{"members that disagree on the leader", []Target{etcd("e1"), etcd("e2"), etcd("e3")},
			[]NodeResult{healthy("e1"), healthy("e2"), healthy("e2")},
			[]string{"etcd-quorum fail members disagree on the leader: e1, e2"}},
		{"one master holds the virtual IP", []Target{master("m1"), master("m2")},
			[]NodeResult{facts(factVIPHolder, "no"), facts(factVIPHolder, "yes")},
			[]string{"virtual-ip pass 10.0.0.20 on m2"}},
		{"the holder is powered off, the other took it", []Target{master("m1"), master("m2")},
			[]NodeResult{{}, facts(factVIPHolder, "yes")},
			[]string{"virtual-ip pass 10.0.0.20 on m2; not checked: m1"}},
		{"nobody holds it", []Target{master("m1"), master("m2")},
			[]NodeResult{facts(factVIPHolder, "no"), facts(factVIPHolder, "no")},
			[]string{"virtual-ip fail no master holds 10.0.0.20"}},
		{"both hold it", []Target{master("m1"), master("m2")},
			[]NodeResult{facts(factVIPHolder, "yes"), facts(factVIPHolder, "yes")},
			[]string{"virtual-ip fail 10.0.0.20 is held by m1 and m2 at once"}},
		{"neither applies to a plan without etcd nodes or a virtual IP", []Target{{Host: "w"}}, []NodeResult{{}}, nil},
	} {
		got := clusterChecks(tc.targets, tc.nodes)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d cluster checks %+v, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			f := strings.SplitN(w, " ", 3)
			if got[i].Name != f[0] || string(got[i].Status) != f[1] || !strings.Contains(got[i].Detail, f[2]) {
				t.Errorf("%s: %s %s %q, want %s", tc.name, got[i].Name, got[i].Status, got[i].Detail, w)
			}
		}
	}
	// A failing cluster check fails the run, and the table and summary say so.
	rep := &Report{Nodes: []NodeResult{{Host: "m1", OK: true}}, Cluster: []CheckResult{{Name: "virtual-ip", Status: Fail, Detail: "no master holds 10.0.0.20"}}}
	if rep.ok() {
		t.Error("a failing cluster check does not fail the run")
	}
	var b bytes.Buffer
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "(cluster)  virtual-ip  fail    no master holds 10.0.0.20") || !strings.Contains(b.String(), "cluster checks failing: virtual-ip") {
		t.Errorf("table:\n%s", b.String())
	}
}
