package roles_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/roles"
)

// etcdMemberList is what etcd's JSON API answers to /v3/cluster/member/list (etcd
// v3.7): started members have a name, a member added but not started yet has none.
const etcdMemberList = `{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","raft_term":"2"},"members":[` +
	`{"ID":"10276657743932975437","name":"etcd1","peerURLs":["https://10.10.0.11:2380"],"clientURLs":["https://10.10.0.11:2379"]},` +
	`{"ID":"9372538179322589801","peerURLs":["https://10.10.0.14:2380"],"isLearner":false},` +
	`{"ID":"12345","name":"etcd2","peerURLs":["https://10.10.0.12:2380"],"clientURLs":["https://10.10.0.12:2379"]}]}`

// TestSyncPublishesAndMergesTheClusterHosts runs kisgen-sync as the master and then as a
// worker: the master labels the nodes that registered with a role label, publishes the
// Kubernetes nodes (a worker that joined after the render among them) and the started
// etcd members, sorted by name, in the ConfigMap; the worker reads it with the hosts
// reader's certificate and merges it into its hosts file, leaving other lines alone.
// Nothing in either node's user-data named the new worker. The master also removes the
// etcd member kisgen asked it to (kisgen-etcd-remove), by its ID in etcd's member list.
func TestSyncPublishesAndMergesTheClusterHosts(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	p, nodes := model(t, "minimal.yaml")
	master, worker := nodes["master1"], nodes["worker1"]
	if strings.Contains(file(t, master, roles.HostsBlockPath).Content, "worker1") {
		t.Fatal("the master's user-data names the worker")
	}
	dir := t.TempDir()
	configMap := filepath.Join(dir, "configmap")
	calls := filepath.Join(dir, "calls")
	tools := append([]string{"wc", "printf", "cp"}, shellTools...)

	run := func(t *testing.T, n *roles.Node, curl string) string {
		t.Helper()
		root := filepath.Join(dir, n.Host)
		writeRoot(t, root, n)
		hosts := filepath.Join(root, "etc/hosts")
		writeFile(t, hosts, "127.0.0.1 localhost\n::1 ip6-localhost\n", 0o644)
		bin := stubs(t, filepath.Join(root, "stubs"), tools, map[string]string{"curl": curl})
		kubectl := `echo "kubectl $*" >>` + calls + `
case "$*" in
*"get nodes -l kisgen.io/role-worker=true,!node-role.kubernetes.io/worker -o name") echo node/worker1; echo node/worker2 ;;
*"get nodes -l "*) ;;
*"get nodes -o jsonpath"*) printf '10.10.0.31 worker1\n10.10.0.32 worker2\n10.10.0.21 master1\n' ;;
*"get configmap -n kube-system kisgen-etcd-remove"*) printf '{"etcd2":"remove"}' ;;
*"get configmap"*) [[ -r ` + configMap + ` ]] && cat ` + configMap + ` ;;
*"patch configmap"*) ;;
*"create configmap"*) a="$*"; f=${a##*--from-file=hosts=}; cp "${f%% *}" ` + configMap + ` ;;
*apply*) cat >/dev/null ;;
esac`
		writeFile(t, filepath.Join(root, roles.BinDir, "kubectl"), "#!/bin/bash\n"+kubectl+"\n", 0o755)
		if err := os.MkdirAll(filepath.Join(root, roles.NodeStateDir), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(bin, "bash"), filepath.Join(root, roles.BinDir, "kisgen-sync"))
		cmd.Env = []string{"PATH=" + bin, "KISGEN_LIB=" + filepath.Join(root, roles.LibPath),
			"KISGEN_NODE_ENV=" + filepath.Join(root, roles.NodeEnvPath), "KISGEN_BIN_DIR=" + filepath.Join(root, roles.BinDir),
			"KISGEN_HOSTS_FILE=" + hosts, "KISGEN_HOSTS_BLOCK=" + filepath.Join(root, roles.HostsBlockPath),
			"KISGEN_HOSTS_SYNCED=" + filepath.Join(root, roles.HostsSyncedPath), "KISGEN_SYNC_RBAC_STAMP=" + filepath.Join(root, "rbac.stamp")}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kisgen-sync on %s: %v\n%s", n.Host, err, out)
		}
		got, _ := os.ReadFile(hosts)
		return string(got)
	}

	want := roles.HostsBlockBegin + "\n10.10.0.11 etcd1\n10.10.0.12 etcd2\n10.10.0.21 master1\n10.10.0.31 worker1\n10.10.0.32 worker2\n" + roles.HostsBlockEnd + "\n"
	got := run(t, master, `echo "curl $*" >>`+calls+`; printf '%s' '`+etcdMemberList+`'`)
	if wantHosts := "127.0.0.1 localhost\n::1 ip6-localhost\n" + want; got != wantHosts {
		t.Errorf("master's hosts file:\n%s\nwant:\n%s", got, wantHosts)
	}
	published, _ := os.ReadFile(configMap)
	if string(published) != want {
		t.Errorf("published block:\n%s\nwant:\n%s", published, want)
	}
	log, _ := os.ReadFile(calls)
	if !strings.Contains(string(log), "label --overwrite node/worker1 node/worker2 node-role.kubernetes.io/worker=") {
		t.Errorf("the new workers were not labelled:\n%s", log)
	}
	// etcd2 left the plan: kisgen asked for its member's removal, by name.
	if !strings.Contains(string(log), `/v3/cluster/member/remove`) || !strings.Contains(string(log), `{"ID":"12345"}`) ||
		!strings.Contains(string(log), `patch configmap -n kube-system kisgen-etcd-remove --type json -p [{"op":"remove","path":"/data/etcd2"}]`) {
		t.Errorf("the etcd member was not removed, or the request not forgotten:\n%s", log)
	}
	if !strings.Contains(string(log), "apply --server-side --force-conflicts --field-manager=kisgen-sync -f "+roles.HostsReaderRBACPath) {
		t.Errorf("the hosts reader's RBAC was not applied:\n%s", log)
	}

	// The worker reads the ConfigMap as the API server serves it, JSON-escaped.
	value, _ := json.Marshal(string(published))
	answer := `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"kisgen-hosts","namespace":"kube-system"},"data":{"hosts":` + string(value) + `}}`
	curl := `case "$*" in *"--cert ` + roles.HostsReaderCert + ` --key ` + roles.HostsReaderKey + ` ` + p.APIServerURL() + `/api/v1/namespaces/kube-system/configmaps/kisgen-hosts"*) printf '%s' '` + answer + `' ;; *) echo "unexpected curl $*" >&2; exit 22 ;; esac`
	got = run(t, worker, curl)
	if wantHosts := "127.0.0.1 localhost\n::1 ip6-localhost\n" + want; got != wantHosts {
		t.Errorf("worker's hosts file:\n%s\nwant:\n%s", got, wantHosts)
	}
	if strings.Contains(got, "\\n") || strings.Count(got, roles.HostsBlockBegin) != 1 {
		t.Errorf("worker's hosts file:\n%s", got)
	}

	t.Run("a block that is not one is not merged", func(t *testing.T) {
		bad := `{"data":{"hosts":"` + roles.HostsBlockBegin + `\nrm -rf / worker9\n` + roles.HostsBlockEnd + `\n"}}`
		root := filepath.Join(dir, worker.Host)
		hosts := filepath.Join(root, "etc/hosts")
		before, _ := os.ReadFile(hosts)
		bin := stubs(t, filepath.Join(root, "stubs2"), tools, map[string]string{"curl": "printf '%s' '" + bad + "'"})
		cmd := exec.Command(filepath.Join(bin, "bash"), filepath.Join(root, roles.BinDir, "kisgen-sync"))
		cmd.Env = []string{"PATH=" + bin, "KISGEN_LIB=" + filepath.Join(root, roles.LibPath),
			"KISGEN_NODE_ENV=" + filepath.Join(root, roles.NodeEnvPath), "KISGEN_BIN_DIR=" + filepath.Join(root, roles.BinDir),
			"KISGEN_HOSTS_FILE=" + hosts, "KISGEN_HOSTS_BLOCK=" + filepath.Join(root, roles.HostsBlockPath),
			"KISGEN_HOSTS_SYNCED=" + filepath.Join(root, roles.HostsSyncedPath)}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "could not read the hosts list") {
			t.Errorf("kisgen-sync accepted a bad block: %v\n%s", err, out)
		}
		after, _ := os.ReadFile(hosts)
		if string(after) != string(before) {
			t.Errorf("the hosts file changed:\n%s", after)
		}
	})
}
