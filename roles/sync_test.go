package roles_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

const baseHosts = "127.0.0.1 localhost\n::1 ip6-localhost\n"

// writes are the requests of a round that change something.
func writes(reqs []fakeRequest) []string {
	var out []string
	for _, r := range reqs {
		if r.method != "GET" && !strings.HasSuffix(r.path, "/member/list") {
			out = append(out, r.String())
		}
	}
	return out
}

// TestSyncPublishesAndMergesTheClusterHosts runs kisgen-sync on the master and on a
// worker, as their timers do, against a fake API server and etcd member over real TLS
// with the nodes' own certificates. The master labels the nodes that registered with a
// role label, removes the etcd member kisgen asked it to (by its ID in etcd's member
// list) and forgets the request, applies the hosts reader's RBAC, and publishes the
// Kubernetes nodes (a worker that joined after the render among them) and the started
// etcd members, sorted by name; the worker reads that list with the hosts reader's
// certificate and merges it into its hosts file, leaving other lines alone. A round where
// nothing changed starts two curls and an awk on the master, one curl on the worker, and
// writes nothing; a node that joins later is in both hosts files after a round each.
func TestSyncPublishesAndMergesTheClusterHosts(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	_, nodes := model(t, "minimal.yaml")
	master, worker := nodes["master1"], nodes["worker1"]
	if strings.Contains(file(t, master, roles.HostsBlockPath).Content, "worker1") {
		t.Fatal("the master's user-data names the worker")
	}
	fc := newFakeCluster(t, master)
	role := func(r plan.Role) map[string]string { return map[string]string{roles.RoleLabel(r): "true"} }
	fc.nodes = []clusterNode{{"master1", "10.10.0.21", role(plan.RoleMaster)}, {"worker1", "10.10.0.31", role(plan.RoleWorker)},
		{"worker2", "10.10.0.32", role(plan.RoleWorker)}, {"worker5", "", role(plan.RoleWorker)}}
	fc.members = []fakeMember{{"10276657743932975437", "etcd1", "https://10.10.0.11:2380"}, {"9372538179322589801", "", "https://10.10.0.14:2380"},
		{"12345", "etcd2", "https://10.10.0.12:2380"}}
	fc.configMaps[roles.EtcdRemoveConfigMap] = map[string]string{"etcd2": "remove"}
	dir := t.TempDir()
	m, w := newSyncNode(t, dir, master, fc), newSyncNode(t, dir, worker, fc)
	block := func(lines ...string) string {
		return roles.HostsBlockBegin + "\n" + strings.Join(lines, "\n") + "\n" + roles.HostsBlockEnd + "\n"
	}
	round := func(s *syncNode) ([]string, []fakeRequest) {
		t.Helper()
		out, started, err := s.round(t)
		if err != nil {
			t.Fatalf("kisgen-sync on %s: %v\n%s", s.n.Host, err, out)
		}
		return started, fc.takeRequests()
	}
	hostsIs := func(s *syncNode, want string) {
		t.Helper()
		if got := s.hostsFile(t); got != baseHosts+want {
			t.Errorf("%s's hosts file:\n%s\nwant:\n%s", s.n.Host, got, baseHosts+want)
		}
	}

	// The first round: everything to do.
	_, reqs := round(m)
	want := block("10.10.0.11 etcd1", "10.10.0.12 etcd2", "10.10.0.21 master1", "10.10.0.31 worker1", "10.10.0.32 worker2")
	if got := fc.configMaps[roles.HostsConfigMap]["hosts"]; got != want {
		t.Errorf("published block:\n%s\nwant:\n%s", got, want)
	}
	hostsIs(m, want)
	for _, n := range fc.nodes {
		wantLabels := map[string]string{"kisgen.io/role-worker": "true", "node-role.kubernetes.io/worker": ""}
		if n.name == "master1" {
			wantLabels = map[string]string{"kisgen.io/role-master": "true", "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}
		}
		if diff := cmp.Diff(wantLabels, n.labels); diff != "" {
			t.Errorf("%s's labels (-want +got):\n%s", n.name, diff)
		}
	}
	// etcd2 left the plan: kisgen asked for its member's removal, by name.
	if slices.ContainsFunc(fc.members, func(m fakeMember) bool { return m.id == "12345" }) {
		t.Errorf("etcd2's member was not removed: %v", fc.members)
	}
	if _, pending := fc.configMaps[roles.EtcdRemoveConfigMap]["etcd2"]; pending {
		t.Error("the removal request was not forgotten")
	}
	for _, r := range reqs {
		if r.user != pki.AdminUser && r.user != pki.EtcdAPIServerClientUser {
			t.Errorf("the master asked as %s: %s", r.user, r)
		}
	}
	kubectl, _ := os.ReadFile(m.kubectl)
	if want := "apply --server-side --force-conflicts --field-manager=kisgen-sync -f " + m.root + roles.HostsReaderRBACPath; !strings.Contains(string(kubectl), want) {
		t.Errorf("the hosts reader's RBAC was not applied (%q):\n%s", want, kubectl)
	}

	// etcd2 is gone: the next round publishes the list without it.
	round(m)
	want = block("10.10.0.11 etcd1", "10.10.0.21 master1", "10.10.0.31 worker1", "10.10.0.32 worker2")
	hostsIs(m, want)

	// Nothing changed: two curls (the API server, etcd) and an awk, no write, no kubectl.
	started, reqs := round(m)
	if diff := cmp.Diff([]string{"awk", "curl", "curl"}, started); diff != "" {
		t.Errorf("commands a quiet round on the master starts (-want +got):\n%s", diff)
	}
	if got := writes(reqs); len(got) != 0 {
		t.Errorf("a quiet round on the master wrote:\n%s", strings.Join(got, "\n"))
	}
	hostsIs(m, want)

	// The worker reads the list as the hosts reader (RBAC lets it get that ConfigMap and
	// nothing else) and merges it; then a quiet round starts one curl.
	_, reqs = round(w)
	hostsIs(w, want)
	for _, r := range reqs {
		if r.user != pki.HostsReaderUser || r.method != "GET" || r.path != "/api/v1/namespaces/kube-system/configmaps/"+roles.HostsConfigMap {
			t.Errorf("the worker asked %s", r)
		}
	}
	started, _ = round(w)
	if diff := cmp.Diff([]string{"curl"}, started); diff != "" {
		t.Errorf("commands a quiet round on the worker starts (-want +got):\n%s", diff)
	}
	hostsIs(w, want)

	t.Run("a hosts file rewritten without the block gets it again", func(t *testing.T) {
		writeFile(t, w.hosts, baseHosts, 0o644)
		round(w)
		hostsIs(w, want)
	})

	t.Run("a node that joins is in every hosts file after a round on each", func(t *testing.T) {
		fc.nodes = append(fc.nodes, clusterNode{"worker3", "10.10.0.33", role(plan.RoleWorker)})
		round(m)
		round(w)
		want = block("10.10.0.11 etcd1", "10.10.0.21 master1", "10.10.0.31 worker1", "10.10.0.32 worker2", "10.10.0.33 worker3")
		hostsIs(m, want)
		hostsIs(w, want)
	})

	t.Run("a block that is not one is not merged", func(t *testing.T) {
		before := w.hostsFile(t)
		fc.configMaps[roles.HostsConfigMap]["hosts"] = roles.HostsBlockBegin + "\nrm -rf / worker9\n" + roles.HostsBlockEnd + "\n"
		out, _, err := w.round(t)
		if err == nil || !strings.Contains(out, "could not read the hosts list") {
			t.Errorf("kisgen-sync accepted a bad block: %v\n%s", err, out)
		}
		if after := w.hostsFile(t); after != before {
			t.Errorf("the hosts file changed:\n%s", after)
		}
	})

	t.Run("without etcd's members the last list stays", func(t *testing.T) {
		fc.etcd.Close()
		fc.nodes = append(fc.nodes, clusterNode{"worker4", "10.10.0.34", role(plan.RoleWorker)})
		before := fc.configMaps[roles.HostsConfigMap]["hosts"]
		out, _, err := m.round(t)
		if err == nil || !strings.Contains(out, "no etcd endpoint answered") {
			t.Errorf("kisgen-sync without etcd: %v\n%s", err, out)
		}
		if got := fc.configMaps[roles.HostsConfigMap]["hosts"]; got != before {
			t.Errorf("a partial list was published:\n%s", got)
		}
	})
}

// TestSyncKeepsTheLoadBalancerName: with kisgen's virtual IP behind a load balancer name
// and managed hosts files, the name's line (name → virtual IP) is in every node's seed,
// a node's that joins later included, and last in the list the masters publish; once
// every node of the plan has registered, what a node that joined later merges is what
// `kisgen verify` expects.
func TestSyncKeepsTheLoadBalancerName(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	p, nodes := model(t, "ha.yaml", "  load_balancer: 10.10.0.20:6443\n", "  load_balancer: api.ha.internal:6443\n",
		"  expected_count: 3\n  nodes:\n  - host: worker1", "  expected_count: 4\n  nodes:\n  - host: worker1",
		"  - host: worker3\n    ip: 10.10.0.33\n", "  - host: worker3\n    ip: 10.10.0.33\n  - host: worker4\n    ip: 10.10.0.34\n")
	const lb = "10.10.0.20 api.ha.internal"
	for host, n := range nodes {
		seed := file(t, n, roles.HostsBlockPath).Content
		if !strings.HasSuffix(seed, lb+"\n"+roles.HostsBlockEnd+"\n") {
			t.Errorf("%s's seed block has no line for the load balancer's name:\n%s", host, seed)
		}
		if !strings.HasSuffix(n.Expect.HostsBlock, lb+"\n"+roles.HostsBlockEnd+"\n") {
			t.Errorf("%s: verify expects no line for the load balancer's name:\n%s", host, n.Expect.HostsBlock)
		}
	}
	master, joiner := nodes["master1"], nodes["worker4"]
	if env := file(t, master, roles.NodeEnvPath).Content; !strings.Contains(env, "KISGEN_HOSTS_LB='"+lb+"'\n") {
		t.Errorf("master1's node.env does not give kisgen-publish the load balancer's line:\n%s", env)
	}

	fc := newFakeCluster(t, master)
	for _, host := range []string{"master1", "master2", "worker1", "worker2", "worker3"} {
		fc.nodes = append(fc.nodes, clusterNode{host, p.Node(host).InternalIP.String(), map[string]string{}})
	}
	for i, host := range []string{"etcd1", "etcd2", "etcd3"} {
		fc.members = append(fc.members, fakeMember{string(rune('1' + i)), host, roles.EtcdPeerURL(p.Node(host))})
	}
	dir := t.TempDir()
	m := newSyncNode(t, dir, master, fc)
	if out, _, err := m.round(t); err != nil {
		t.Fatalf("kisgen-sync on master1: %v\n%s", err, out)
	}
	if got := fc.configMaps[roles.HostsConfigMap]["hosts"]; !strings.HasSuffix(got, "10.10.0.33 worker3\n"+lb+"\n"+roles.HostsBlockEnd+"\n") {
		t.Errorf("the published list does not end with the load balancer's line:\n%s", got)
	}

	// worker4 joins: registered, the masters publish it, it merges the list.
	fc.nodes = append(fc.nodes, clusterNode{"worker4", "10.10.0.34", map[string]string{}})
	if out, _, err := m.round(t); err != nil {
		t.Fatalf("kisgen-sync on master1: %v\n%s", err, out)
	}
	j := newSyncNode(t, dir, joiner, fc)
	if out, _, err := j.round(t); err != nil {
		t.Fatalf("kisgen-sync on worker4: %v\n%s", err, out)
	}
	if got, want := j.hostsFile(t), baseHosts+joiner.Expect.HostsBlock; got != want {
		t.Errorf("worker4's hosts file:\n%s\nwant what verify expects:\n%s", got, want)
	}
}
