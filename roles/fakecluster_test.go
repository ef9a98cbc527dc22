package roles_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/roles"
)

// fakeCluster is the API server and an etcd member as kisgen-sync and kisgen-publish see
// them: real TLS that requires the node's own client certificates (the cluster CA's for
// the API, the etcd CA's for etcd), the few requests the scripts make, answered in the
// compact JSON the real servers write, and every request recorded with its client's
// name. It grants the hosts reader what its RBAC does (get the hosts ConfigMap, nothing
// else) and, as the real API server does, pretty-prints its JSON for curl's own agent.
type fakeCluster struct {
	api, etcd     *httptest.Server
	apiCA, etcdCA string // the servers' certificates, for curl's --cacert

	mu         sync.Mutex
	nodes      []clusterNode
	configMaps map[string]map[string]string
	members    []fakeMember
	requests   []fakeRequest
}

type clusterNode struct {
	name, ip string // ip "": the kubelet has not reported its addresses yet
	labels   map[string]string
}

type fakeMember struct{ id, name, peer string } // name "": added, not started

type fakeRequest struct{ user, method, path, contentType, body string }

func (r fakeRequest) String() string {
	return fmt.Sprintf("%s %s %s %s %s", r.user, r.method, r.path, r.contentType, r.body)
}

// newFakeCluster starts both servers, trusting the client CAs the node's files hold.
func newFakeCluster(t *testing.T, n *roles.Node) *fakeCluster {
	t.Helper()
	fc := &fakeCluster{configMaps: map[string]map[string]string{}}
	dir := t.TempDir()
	start := func(caPath, name string, h http.HandlerFunc) (*httptest.Server, string) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(file(t, n, caPath).Content)) {
			t.Fatalf("no CA in %s", caPath)
		}
		srv := httptest.NewUnstartedServer(h)
		srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		ca := filepath.Join(dir, name+".crt")
		writeFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})), 0o644)
		return srv, ca
	}
	fc.api, fc.apiCA = start(roles.CACert, "api", fc.serveAPI)
	fc.etcd, fc.etcdCA = start(roles.EtcdCACert, "etcd", fc.serveEtcd)
	return fc
}

// takeRequests returns the requests since the last call.
func (fc *fakeCluster) takeRequests() []fakeRequest {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	out := fc.requests
	fc.requests = nil
	return out
}

func (fc *fakeCluster) record(r *http.Request) fakeRequest {
	body, _ := io.ReadAll(r.Body)
	req := fakeRequest{user: r.TLS.PeerCertificates[0].Subject.CommonName, method: r.Method, path: r.URL.RequestURI(),
		contentType: r.Header.Get("Content-Type"), body: string(body)}
	fc.requests = append(fc.requests, req)
	return req
}

// write answers v as JSON: compact, or indented for curl's agent as the API server does.
func write(w http.ResponseWriter, r *http.Request, code int, v any) {
	var data []byte
	if strings.HasPrefix(r.UserAgent(), "curl") {
		data, _ = json.MarshalIndent(v, "", "  ")
	} else {
		data, _ = json.Marshal(v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

// Kubernetes' objects, their fields in the order the API server writes them.
type (
	objectMeta struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace,omitempty"`
		UID               string            `json:"uid"`
		ResourceVersion   string            `json:"resourceVersion"`
		CreationTimestamp string            `json:"creationTimestamp"`
		Labels            map[string]string `json:"labels,omitempty"`
		Annotations       map[string]string `json:"annotations,omitempty"`
		ManagedFields     []managedField    `json:"managedFields,omitempty"`
	}
	managedField struct {
		Manager    string         `json:"manager"`
		Operation  string         `json:"operation"`
		APIVersion string         `json:"apiVersion"`
		FieldsType string         `json:"fieldsType"`
		FieldsV1   map[string]any `json:"fieldsV1"`
	}
	nodeAddress struct {
		Type    string `json:"type"`
		Address string `json:"address"`
	}
	node struct {
		Metadata objectMeta     `json:"metadata"`
		Spec     map[string]any `json:"spec"`
		Status   struct {
			Conditions []map[string]string `json:"conditions"`
			Addresses  []nodeAddress       `json:"addresses,omitempty"`
			NodeInfo   map[string]string   `json:"nodeInfo"`
			Images     []map[string]any    `json:"images"`
		} `json:"status"`
	}
	nodeList struct {
		Kind       string            `json:"kind"`
		APIVersion string            `json:"apiVersion"`
		Metadata   map[string]string `json:"metadata"`
		Items      []node            `json:"items"`
	}
	configMap struct {
		Kind       string            `json:"kind"`
		APIVersion string            `json:"apiVersion"`
		Metadata   objectMeta        `json:"metadata"`
		Data       map[string]string `json:"data,omitempty"`
	}
)

func notFound(w http.ResponseWriter, r *http.Request, what, name string) {
	write(w, r, http.StatusNotFound, map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": fmt.Sprintf("%s %q not found", what, name), "reason": "NotFound", "details": map[string]string{"name": name, "kind": what}, "code": 404})
}

func (fc *fakeCluster) nodeJSON(n clusterNode) node {
	var o node
	o.Metadata = objectMeta{Name: n.name, UID: "uid-" + n.name, ResourceVersion: "42", CreationTimestamp: "2026-12-01T10:00:00Z", Labels: n.labels,
		// What no parser may take for a node, a label or an address: the same keys, escaped
		// in a string as JSON writes them.
		Annotations: map[string]string{"kisgen.test/decoy": `{"metadata":{"name":"decoy"},"labels":{"kisgen.io/role-master":"true"}} {"type":"InternalIP","address":"192.0.2.66"}`},
		ManagedFields: []managedField{{Manager: "kubelet", Operation: "Update", APIVersion: "v1", FieldsType: "FieldsV1",
			FieldsV1: map[string]any{"f:status": map[string]any{"f:addresses": map[string]any{`k:{"type":"InternalIP"}`: map[string]any{}}}}}}}
	o.Spec = map[string]any{"podCIDR": "172.16.1.0/24"}
	o.Status.Conditions = []map[string]string{{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}}
	if n.ip != "" {
		o.Status.Addresses = []nodeAddress{{"InternalIP", n.ip}, {"Hostname", n.name}}
	}
	o.Status.NodeInfo = map[string]string{"kubeletVersion": "v1.37.2", "containerRuntimeVersion": "containerd://2.4.2"}
	o.Status.Images = []map[string]any{{"names": []string{"registry.k8s.io/pause:3.10.1"}, "sizeBytes": 320368}}
	return o
}

func (fc *fakeCluster) serveAPI(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	req := fc.record(r)
	const cms = "/api/v1/namespaces/kube-system/configmaps/"
	path := r.URL.Path
	// RBAC: the hosts reader may get the hosts ConfigMap; admin may do anything.
	if !(req.user == pki.AdminUser || req.user == pki.HostsReaderUser && r.Method == http.MethodGet && path == cms+roles.HostsConfigMap) {
		write(w, r, http.StatusForbidden, map[string]any{"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403})
		return
	}
	switch {
	case r.Method == http.MethodGet && path == "/api/v1/nodes":
		list := nodeList{Kind: "NodeList", APIVersion: "v1", Metadata: map[string]string{"resourceVersion": "42"}, Items: []node{}}
		for _, n := range fc.nodes {
			list.Items = append(list.Items, fc.nodeJSON(n))
		}
		write(w, r, http.StatusOK, list)
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/api/v1/nodes/"):
		name := strings.TrimPrefix(path, "/api/v1/nodes/")
		var patch struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if req.contentType != "application/merge-patch+json" || json.Unmarshal([]byte(req.body), &patch) != nil {
			write(w, r, http.StatusBadRequest, map[string]any{"kind": "Status", "code": 400})
			return
		}
		for i := range fc.nodes {
			if fc.nodes[i].name == name {
				for k, v := range patch.Metadata.Labels {
					fc.nodes[i].labels[k] = v
				}
				write(w, r, http.StatusOK, fc.nodeJSON(fc.nodes[i]))
				return
			}
		}
		notFound(w, r, "nodes", name)
	case r.Method == http.MethodGet && strings.HasPrefix(path, cms):
		name := strings.TrimPrefix(path, cms)
		data, ok := fc.configMaps[name]
		if !ok {
			notFound(w, r, "configmaps", name)
			return
		}
		write(w, r, http.StatusOK, configMap{Kind: "ConfigMap", APIVersion: "v1", Data: data,
			Metadata: objectMeta{Name: name, Namespace: "kube-system", UID: "uid-" + name, ResourceVersion: "7", CreationTimestamp: "2026-12-01T10:00:00Z",
				ManagedFields: []managedField{{Manager: "kisgen-sync", Operation: "Apply", APIVersion: "v1", FieldsType: "FieldsV1",
					FieldsV1: map[string]any{"f:data": map[string]any{"f:hosts": map[string]any{}}}}}}})
	case r.Method == http.MethodPatch && strings.HasPrefix(path, cms):
		name := strings.TrimPrefix(path, cms)
		switch req.contentType {
		case "application/apply-patch+yaml": // server-side apply: creates or changes
			var cm configMap
			if r.URL.Query().Get("fieldManager") != "kisgen-sync" || r.URL.Query().Get("force") != "true" ||
				json.Unmarshal([]byte(req.body), &cm) != nil || cm.Kind != "ConfigMap" || cm.Metadata.Name != name || cm.Metadata.Namespace != "kube-system" {
				write(w, r, http.StatusBadRequest, map[string]any{"kind": "Status", "code": 400})
				return
			}
			fc.configMaps[name] = cm.Data
			write(w, r, http.StatusOK, cm)
		case "application/json-patch+json":
			var ops []struct{ Op, Path string }
			if json.Unmarshal([]byte(req.body), &ops) != nil {
				write(w, r, http.StatusBadRequest, map[string]any{"kind": "Status", "code": 400})
				return
			}
			for _, op := range ops {
				key, ok := strings.CutPrefix(op.Path, "/data/")
				if _, there := fc.configMaps[name][key]; op.Op != "remove" || !ok || !there {
					write(w, r, http.StatusUnprocessableEntity, map[string]any{"kind": "Status", "code": 422})
					return
				}
				delete(fc.configMaps[name], key)
			}
			write(w, r, http.StatusOK, configMap{Kind: "ConfigMap", APIVersion: "v1", Data: fc.configMaps[name]})
		default:
			write(w, r, http.StatusUnsupportedMediaType, map[string]any{"kind": "Status", "code": 415})
		}
	default:
		write(w, r, http.StatusNotFound, map[string]any{"kind": "Status", "code": 404})
	}
}

// serveEtcd answers etcd's JSON API (the gRPC gateway of etcd v3.7) for the member list
// and a removal.
func (fc *fakeCluster) serveEtcd(w http.ResponseWriter, r *http.Request) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	req := fc.record(r)
	list := func() map[string]any {
		var ms []map[string]any
		for _, m := range fc.members {
			o := map[string]any{"ID": m.id, "peerURLs": []string{m.peer}}
			if m.name != "" {
				o["name"], o["clientURLs"] = m.name, []string{strings.Replace(m.peer, ":2380", ":2379", 1)}
			}
			ms = append(ms, o)
		}
		return map[string]any{"header": map[string]string{"cluster_id": "14841639068965178418", "member_id": "10276657743932975437", "raft_term": "2"}, "members": ms}
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v3/cluster/member/list":
		write(w, r, http.StatusOK, list())
	case r.Method == http.MethodPost && r.URL.Path == "/v3/cluster/member/remove":
		var body struct{ ID string }
		_ = json.Unmarshal([]byte(req.body), &body)
		for i, m := range fc.members {
			if m.id == body.ID {
				fc.members = append(fc.members[:i], fc.members[i+1:]...)
				write(w, r, http.StatusOK, list())
				return
			}
		}
		write(w, r, http.StatusNotFound, map[string]any{"error": "etcdserver: member not found", "code": 5})
	default:
		write(w, r, http.StatusNotFound, map[string]any{"code": 5})
	}
}

// syncNode is a node's root for running kisgen-sync against a fakeCluster: its files,
// its node.env pointing at the fake servers, a hosts file, and PATH commands that log
// each start (kubectl too, a stub) so that a test sees every process a round starts.
type syncNode struct {
	n               *roles.Node
	root, hosts     string
	starts, kubectl string // logs
	env             []string
}

func newSyncNode(t *testing.T, dir string, n *roles.Node, fc *fakeCluster) *syncNode {
	t.Helper()
	root := filepath.Join(dir, n.Host)
	writeRoot(t, root, n)
	s := &syncNode{n: n, root: root, hosts: filepath.Join(root, "etc/hosts"), starts: filepath.Join(root, "starts.log"), kubectl: filepath.Join(root, "kubectl.log")}
	writeFile(t, s.hosts, "127.0.0.1 localhost\n::1 ip6-localhost\n", 0o644)
	env := file(t, n, roles.NodeEnvPath).Content
	env = replaceLine(t, env, "KISGEN_API_SERVER=", "KISGEN_API_SERVER='"+fc.api.URL+"'")
	if strings.Contains(env, "KISGEN_ETCD_ENDPOINTS='https") {
		env = replaceLine(t, env, "KISGEN_ETCD_ENDPOINTS=", "KISGEN_ETCD_ENDPOINTS='"+fc.etcd.URL+",https://127.0.0.1:1'") // the second one is down
	}
	writeFile(t, filepath.Join(root, roles.NodeEnvPath), env, 0o644)

	bin := filepath.Join(root, "path")
	for _, tool := range shellTools {
		if tool == "bash" {
			continue
		}
		real := testtool.Require(t, tool, toolPackages[tool])
		writeFile(t, filepath.Join(bin, tool), fmt.Sprintf("#!/bin/sh\necho %s >>%s\nexec %s \"$@\"\n", tool, s.starts, real), 0o755)
	}
	writeFile(t, filepath.Join(root, roles.BinDir, "kubectl"), fmt.Sprintf("#!/bin/sh\necho kubectl >>%s\necho \"$*\" >>%s\n", s.starts, s.kubectl), 0o755)
	if err := os.MkdirAll(filepath.Join(root, roles.NodeStateDir), 0o755); err != nil {
		t.Fatal(err)
	}
	at := func(p string) string { return filepath.Join(root, p) }
	s.env = []string{"PATH=" + bin, "KISGEN_LIB=" + at(roles.LibPath), "KISGEN_NODE_ENV=" + at(roles.NodeEnvPath),
		"KISGEN_BIN_DIR=" + at(roles.BinDir), "KISGEN_HOSTS_FILE=" + s.hosts, "KISGEN_HOSTS_BLOCK=" + at(roles.HostsBlockPath),
		"KISGEN_HOSTS_SYNCED=" + at(roles.HostsSyncedPath), "KISGEN_SYNC_RBAC_STAMP=" + at("rbac.stamp"), "KISGEN_SYNC_RUN_DIR=" + at("run"),
		"KISGEN_HOSTS_READER_RBAC=" + at(roles.HostsReaderRBACPath),
		"KISGEN_API_CACERT=" + fc.apiCA, "KISGEN_API_CERT=" + at(roles.AdminCert), "KISGEN_API_KEY=" + at(roles.AdminKey),
		"KISGEN_HOSTS_READER_CERT=" + at(roles.HostsReaderCert), "KISGEN_HOSTS_READER_KEY=" + at(roles.HostsReaderKey),
		"KISGEN_ETCD_CACERT=" + fc.etcdCA, "KISGEN_ETCD_CERT=" + at(roles.APIServerEtcdCert), "KISGEN_ETCD_KEY=" + at(roles.APIServerEtcdKey)}
	return s
}

func replaceLine(t *testing.T, text, prefix, line string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			lines[i] = line
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("no line %s… in:\n%s", prefix, text)
	return ""
}

// round runs kisgen-sync once, as its unit does (a fresh runtime directory), and returns
// its output and the commands it started, sorted.
func (s *syncNode) round(t *testing.T) (out string, started []string, err error) {
	t.Helper()
	run := filepath.Join(s.root, "run")
	if err := os.RemoveAll(run); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(s.starts)
	cmd := exec.Command(testtool.Require(t, "bash", "bash"), filepath.Join(s.root, roles.BinDir, "kisgen-sync"))
	cmd.Env = s.env
	b, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(s.starts)
	started = strings.Fields(string(log))
	sort.Strings(started)
	return string(b), started, err
}

func (s *syncNode) hostsFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(s.hosts)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
