package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func selector(js string) LabelSelector {
	var s LabelSelector
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		panic(err)
	}
	return s
}

func TestLabelSelectorMatches(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	for _, tc := range []struct {
		name, sel string
		want      bool
	}{
		{"empty selects all", `{}`, true},
		{"matchLabels equal", `{"matchLabels":{"app":"web"}}`, true},
		{"matchLabels differ", `{"matchLabels":{"app":"db"}}`, false},
		{"matchLabels missing key", `{"matchLabels":{"zone":"a"}}`, false},
		{"In", `{"matchExpressions":[{"key":"tier","operator":"In","values":["back","front"]}]}`, true},
		{"In without the key", `{"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]}`, false},
		{"NotIn", `{"matchExpressions":[{"key":"tier","operator":"NotIn","values":["front"]}]}`, false},
		{"NotIn without the key", `{"matchExpressions":[{"key":"zone","operator":"NotIn","values":["a"]}]}`, true},
		{"Exists", `{"matchExpressions":[{"key":"app","operator":"Exists"}]}`, true},
		{"DoesNotExist", `{"matchExpressions":[{"key":"app","operator":"DoesNotExist"}]}`, false},
		{"unknown operator selects (safe side)", `{"matchExpressions":[{"key":"app","operator":"Gt","values":["1"]}]}`, true},
	} {
		if got := selector(tc.sel).Matches(labels); got != tc.want {
			t.Errorf("%s: %s matches %v = %v, want %v", tc.name, tc.sel, labels, got, tc.want)
		}
	}
}

func TestDesired(t *testing.T) {
	web := Pod{Namespace: "shop", Name: "web-1", Labels: map[string]string{"app": "web"}, Ports: []string{"TCP/8080"}}
	web2 := Pod{Namespace: "shop", Name: "web-2", Labels: map[string]string{"app": "web", SetLabel: "stale"}, Ports: []string{"TCP/8080"}}
	dns := Pod{Namespace: "shop", Name: "dns", Labels: map[string]string{"app": "dns"}, Ports: []string{"TCP/53", "UDP/53"}}
	quiet := Pod{Namespace: "shop", Name: "quiet", Labels: map[string]string{"app": "batch"}}
	host := Pod{Namespace: "shop", Name: "host", Ports: []string{"TCP/9100"}, HostNetwork: true}
	done := Pod{Namespace: "shop", Name: "done", Ports: []string{"TCP/9000"}, Terminated: true}
	set8080, set53 := SetName([]string{"TCP/8080"}), SetName([]string{"TCP/53", "UDP/53"})
	for _, tc := range []struct {
		name     string
		policies []NetworkPolicy
		want     Plan
	}{
		{"no NetworkPolicy: every pod that declares ports gets its set", nil, Plan{
			Labels:   map[string]string{"web-1": set8080, "web-2": set8080, "dns": set53, "quiet": "", "host": "", "done": ""},
			Policies: map[string][]string{set8080: {"TCP/8080"}, set53: {"TCP/53", "UDP/53"}}}},
		{"a NetworkPolicy of Ingress type takes its pods over", []NetworkPolicy{{Namespace: "shop", Name: "np", Ingress: true, Selector: selector(`{"matchLabels":{"app":"web"}}`)}}, Plan{
			Labels:   map[string]string{"web-1": "", "web-2": "", "dns": set53, "quiet": "", "host": "", "done": ""},
			Policies: map[string][]string{set53: {"TCP/53", "UDP/53"}}}},
		{"an Egress-only NetworkPolicy does not", []NetworkPolicy{{Namespace: "shop", Name: "np", Selector: selector(`{}`)}}, Plan{
			Labels:   map[string]string{"web-1": set8080, "web-2": set8080, "dns": set53, "quiet": "", "host": "", "done": ""},
			Policies: map[string][]string{set8080: {"TCP/8080"}, set53: {"TCP/53", "UDP/53"}}}},
		{"a NetworkPolicy of another namespace does not", []NetworkPolicy{{Namespace: "other", Name: "np", Ingress: true, Selector: selector(`{}`)}}, Plan{
			Labels:   map[string]string{"web-1": set8080, "web-2": set8080, "dns": set53, "quiet": "", "host": "", "done": ""},
			Policies: map[string][]string{set8080: {"TCP/8080"}, set53: {"TCP/53", "UDP/53"}}}},
		{"the controller's own label does not make a pod selected", []NetworkPolicy{{Namespace: "shop", Name: "np", Ingress: true,
			Selector: selector(`{"matchExpressions":[{"key":"` + SetLabel + `","operator":"Exists"}]}`)}}, Plan{
			Labels:   map[string]string{"web-1": set8080, "web-2": set8080, "dns": set53, "quiet": "", "host": "", "done": ""},
			Policies: map[string][]string{set8080: {"TCP/8080"}, set53: {"TCP/53", "UDP/53"}}}},
	} {
		got := Desired([]Pod{web, web2, dns, quiet, host, done}, tc.policies)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestPodFromJSONReadsDeclaredPorts(t *testing.T) {
	p, err := podFromJSON(json.RawMessage(`{"metadata":{"namespace":"a","name":"p","labels":{"x":"y"}},
"spec":{"containers":[{"ports":[{"containerPort":8080},{"containerPort":53,"protocol":"UDP"}]},{"ports":[{"containerPort":8080,"protocol":"TCP"},{"containerPort":9090,"name":"metrics"}]}]},
"status":{"phase":"Running"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"TCP/8080", "TCP/9090", "UDP/53"}, p.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	np, err := networkPolicyFromJSON(json.RawMessage(`{"metadata":{"namespace":"a","name":"n"},"spec":{"podSelector":{},"policyTypes":["Egress"]}}`))
	if err != nil || np.Ingress {
		t.Errorf("an Egress policy reads as %+v, %v", np, err)
	}
	np, _ = networkPolicyFromJSON(json.RawMessage(`{"metadata":{"namespace":"a","name":"n"},"spec":{"podSelector":{}}}`))
	if !np.Ingress {
		t.Error("a policy without policyTypes is of Ingress type")
	}
}

func TestPolicyObject(t *testing.T) {
	got, _ := json.Marshal(PolicyObject("shop", "abc", []string{"TCP/53", "TCP/8080", "UDP/53"}))
	want := `{"apiVersion":"crd.projectcalico.org/v1","kind":"NetworkPolicy","metadata":{"labels":{"app.kubernetes.io/managed-by":"kisgen-declared-ports","declared-ports.kisgen.io/set":"abc"},"name":"kisgen-declared-ports-abc","namespace":"shop"},` +
		`"spec":{"ingress":[{"action":"Allow","destination":{"ports":[53,8080]},"protocol":"TCP"},{"action":"Allow","destination":{"ports":[53]},"protocol":"UDP"}],"order":1500,"selector":"declared-ports.kisgen.io/set == 'abc'","tier":"default","types":["Ingress"]}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// fakeAPI is a Kubernetes API server with the collections the controller uses: lists,
// watches fed by the test, merge patches of pod labels, and Calico policies.
type fakeAPI struct {
	mu       sync.Mutex
	pods     map[string]map[string]any
	policies map[string]map[string]any // Calico, by namespace/name
	watchers map[string][]chan string
	requests []string
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{pods: map[string]map[string]any{}, policies: map[string]map[string]any{}, watchers: map[string][]chan string{}}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	path := r.URL.Path
	if r.URL.Query().Get("watch") == "1" {
		ch := make(chan string, 16)
		f.mu.Lock()
		f.watchers[path] = append(f.watchers[path], ch)
		f.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-ch:
				fmt.Fprintln(w, ev)
				w.(http.Flusher).Flush()
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	items := func(m map[string]map[string]any, ns string) []any {
		out := []any{}
		for k, v := range m {
			if ns == "" || strings.HasPrefix(k, ns+"/") {
				out = append(out, v)
			}
		}
		return out
	}
	writeList := func(it []any) {
		json.NewEncoder(w).Encode(map[string]any{"metadata": map[string]any{"resourceVersion": "1"}, "items": it})
	}
	switch {
	case r.Method == http.MethodGet && path == podsPath:
		writeList(items(f.pods, ""))
	case r.Method == http.MethodGet && path == networkPoliciesPath:
		writeList([]any{})
	case r.Method == http.MethodGet && path == "/apis/"+calicoGroup+"/networkpolicies":
		writeList(items(f.policies, ""))
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/networkpolicies"):
		writeList(items(f.policies, strings.Split(path, "/")[5]))
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/networkpolicies"):
		var o map[string]any
		json.NewDecoder(r.Body).Decode(&o)
		m := o["metadata"].(map[string]any)
		f.policies[m["namespace"].(string)+"/"+m["name"].(string)] = o
		w.WriteHeader(http.StatusCreated)
	case r.Method == http.MethodDelete && strings.Contains(path, "/networkpolicies/"):
		parts := strings.Split(path, "/")
		delete(f.policies, parts[5]+"/"+parts[7])
	case r.Method == http.MethodPatch && strings.HasPrefix(path, "/api/v1/namespaces/"):
		parts := strings.Split(path, "/")
		pod, ok := f.pods[parts[4]+"/"+parts[6]]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if r.Header.Get("Content-Type") != "application/merge-patch+json" {
			http.Error(w, "want a merge patch", http.StatusUnsupportedMediaType)
			return
		}
		var patch struct {
			Metadata struct{ Labels map[string]any }
		}
		json.NewDecoder(r.Body).Decode(&patch)
		meta := pod["metadata"].(map[string]any)
		labels, _ := meta["labels"].(map[string]any)
		if labels == nil {
			labels = map[string]any{}
		}
		for k, v := range patch.Metadata.Labels {
			if v == nil {
				delete(labels, k)
			} else {
				labels[k] = v
			}
		}
		meta["labels"] = labels
	default:
		http.Error(w, "unexpected "+r.Method+" "+path, http.StatusNotFound)
	}
}

// event adds, changes or deletes an object and tells the watchers of its collection.
func (f *fakeAPI) event(collection, typ string, obj map[string]any) {
	f.mu.Lock()
	meta := obj["metadata"].(map[string]any)
	key := meta["namespace"].(string) + "/" + meta["name"].(string)
	if collection == podsPath {
		if typ == "DELETED" {
			delete(f.pods, key)
		} else {
			f.pods[key] = obj
		}
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "object": obj})
	chans := f.watchers[collection]
	f.mu.Unlock()
	for _, ch := range chans {
		ch <- string(b)
	}
}

func (f *fakeAPI) podLabel(key string) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	labels, _ := f.pods[key]["metadata"].(map[string]any)["labels"].(map[string]any)
	return labels[SetLabel]
}

func (f *fakeAPI) policyNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.policies {
		out = append(out, k)
	}
	return out
}

func pod(ns, name string, labels map[string]any, ports ...int) map[string]any {
	var ps []any
	for _, p := range ports {
		ps = append(ps, map[string]any{"containerPort": p})
	}
	return map[string]any{"metadata": map[string]any{"namespace": ns, "name": name, "labels": labels},
		"spec": map[string]any{"containers": []any{map[string]any{"ports": ps}}}, "status": map[string]any{"phase": "Running"}}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("never: %s", what)
}

// TestControllerAgainstAnAPIServer: the controller opens a new pod's declared ports
// (policy first, then the pod's label), leaves system namespaces alone, hands a pod over
// to a NetworkPolicy that selects it, and deletes a policy no pod uses any more, including
// one left from before it started.
func TestControllerAgainstAnAPIServer(t *testing.T) {
	f := newFakeAPI()
	f.pods["kube-system/coredns"] = pod("kube-system", "coredns", map[string]any{"k8s-app": "kube-dns"}, 53)
	f.policies["old/"+PolicyPrefix+"dead"] = map[string]any{"metadata": map[string]any{"namespace": "old", "name": PolicyPrefix + "dead"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c := NewController(&API{Base: srv.URL, Client: srv.Client()}, log.New(io.Discard, "", 0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	eventually(t, "the policy left from before is deleted", func() bool { return len(f.policyNames()) == 0 })
	eventually(t, "both watches are open", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.watchers[podsPath]) == 1 && len(f.watchers[networkPoliciesPath]) == 1
	})
	set := SetName([]string{"TCP/8080"})
	f.event(podsPath, "ADDED", pod("shop", "web", map[string]any{"app": "web"}, 8080))
	eventually(t, "the pod is labelled with its set", func() bool { return f.podLabel("shop/web") == set })
	if got := f.policyNames(); len(got) != 1 || got[0] != "shop/"+PolicyPrefix+set {
		t.Fatalf("policies %v", got)
	}
	if f.podLabel("kube-system/coredns") != nil {
		t.Error("a kube-system pod was labelled")
	}
	// The policy exists before the label that puts the pod in it.
	f.mu.Lock()
	var order []string
	for _, r := range f.requests {
		if strings.HasPrefix(r, "POST") || strings.HasPrefix(r, "PATCH") {
			order = append(order, strings.Fields(r)[0])
		}
	}
	f.mu.Unlock()
	if strings.Join(order, " ") != "POST PATCH" {
		t.Errorf("writes in the order %v, want the policy before the label", order)
	}

	f.event(networkPoliciesPath, "ADDED", map[string]any{"metadata": map[string]any{"namespace": "shop", "name": "web"},
		"spec": map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}})
	eventually(t, "a NetworkPolicy takes the pod over", func() bool { return f.podLabel("shop/web") == nil && len(f.policyNames()) == 0 })

	f.event(networkPoliciesPath, "DELETED", map[string]any{"metadata": map[string]any{"namespace": "shop", "name": "web"},
		"spec": map[string]any{"podSelector": map[string]any{}}})
	eventually(t, "the pod's ports open again", func() bool { return f.podLabel("shop/web") == set && len(f.policyNames()) == 1 })
	f.event(podsPath, "DELETED", pod("shop", "web", nil))
	eventually(t, "the last pod of a set takes its policy along", func() bool { return len(f.policyNames()) == 0 })
	if !c.Healthy() {
		t.Error("not healthy after syncing")
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Run: %v", err)
	}
}
