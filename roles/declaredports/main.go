// Command declared-ports is kisgen's controller for network policy "on": it opens the
// ports each pod declares, as the Kismatic guide describes ("when adding new Pods, any
// ports that are identified within the definition will be made accessible to other
// pods"). Calico cannot express "the ports this pod declares" in a fixed policy (its
// workload endpoints carry only named ports, and a rule names each port), so this
// controller writes the policies:
//
//   - every pod outside the system namespaces that declares container ports, and that no
//     Kubernetes NetworkPolicy of Ingress type selects, gets the label
//     declared-ports.kisgen.io/set=HASH, HASH naming its set of protocol/port pairs;
//   - each namespace gets one Calico NetworkPolicy per set in use,
//     kisgen-declared-ports-HASH, that allows ingress to those ports from anywhere, at
//     order 1500: after Kubernetes NetworkPolicies (1000), before kisgen's isolation policy
//     (2000). Policies of sets no longer in use are deleted.
//
// A pod that a NetworkPolicy selects is left to NetworkPolicies alone (its label is
// removed), so NetworkPolicies keep their Kubernetes meaning. Closing a declared port
// otherwise takes a Calico policy with an explicit Deny at a lower order (calicoctl on the
// masters).
//
// It uses only the standard library: `kisgen mirror build` compiles this file with the
// local Go toolchain and packs it as an image archive, as it does the pause image. It
// talks to the API server with its service account (in-cluster configuration).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Names the controller reads and writes.
const (
	SetLabel      = "declared-ports.kisgen.io/set"
	ManagedBy     = "app.kubernetes.io/managed-by"
	ManagerName   = "kisgen-declared-ports"
	PolicyPrefix  = "kisgen-declared-ports-"
	PolicyOrder   = 1500
	calicoGroup   = "crd.projectcalico.org/v1"
	resyncEvery   = 5 * time.Minute
	settleAfter   = time.Second
	serviceAcct   = "/var/run/secrets/kubernetes.io/serviceaccount"
	healthAddress = ":8080"
)

// SystemNamespaces are left alone: kisgen's isolation policy does not isolate them.
var SystemNamespaces = map[string]bool{"kube-system": true, "kube-public": true, "kube-node-lease": true}

// Pod is what the controller needs of a pod.
type Pod struct {
	Namespace, Name string
	Labels          map[string]string
	// Ports are the declared ports as PROTOCOL/PORT, sorted, once each.
	Ports       []string
	HostNetwork bool
	Terminated  bool
}

// NetworkPolicy is what the controller needs of a Kubernetes NetworkPolicy: whether it
// governs ingress, and which pods of its namespace it selects.
type NetworkPolicy struct {
	Namespace, Name string
	Ingress         bool
	Selector        LabelSelector
}

// LabelSelector is metav1.LabelSelector.
type LabelSelector struct {
	MatchLabels      map[string]string `json:"matchLabels,omitempty"`
	MatchExpressions []struct {
		Key      string   `json:"key"`
		Operator string   `json:"operator"`
		Values   []string `json:"values,omitempty"`
	} `json:"matchExpressions,omitempty"`
}

// Matches reports whether labels satisfy the selector (an empty selector selects all).
func (s LabelSelector) Matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if have, ok := labels[k]; !ok || have != v {
			return false
		}
	}
	for _, e := range s.MatchExpressions {
		have, ok := labels[e.Key]
		in := false
		for _, v := range e.Values {
			in = in || (ok && have == v)
		}
		switch e.Operator {
		case "In":
			if !in {
				return false
			}
		case "NotIn":
			if in {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			// An operator the API server accepted but this controller does not know:
			// treat the pod as selected, leaving it to NetworkPolicies (the safe side).
			return true
		}
	}
	return true
}

// SetName names a set of declared ports: the same set gives the same name, and the name
// is a valid label value.
func SetName(ports []string) string {
	h := sha256.Sum256([]byte(strings.Join(ports, ",")))
	return hex.EncodeToString(h[:8])
}

// Plan is what one namespace should look like: the set label each pod should carry (""
// for none) and the policy of each set in use.
type Plan struct {
	Labels   map[string]string
	Policies map[string][]string
}

// Desired computes a namespace's plan from its pods and NetworkPolicies.
func Desired(pods []Pod, policies []NetworkPolicy) Plan {
	out := Plan{Labels: map[string]string{}, Policies: map[string][]string{}}
	for _, p := range pods {
		set := ""
		if len(p.Ports) > 0 && !p.HostNetwork && !p.Terminated && !selectedForIngress(p, policies) {
			set = SetName(p.Ports)
			out.Policies[set] = p.Ports
		}
		out.Labels[p.Name] = set
	}
	return out
}

func selectedForIngress(p Pod, policies []NetworkPolicy) bool {
	labels := map[string]string{}
	for k, v := range p.Labels {
		if k != SetLabel {
			labels[k] = v
		}
	}
	for _, np := range policies {
		if np.Ingress && np.Namespace == p.Namespace && np.Selector.Matches(labels) {
			return true
		}
	}
	return false
}

// PolicyObject is the Calico NetworkPolicy that opens a set's ports in a namespace.
func PolicyObject(namespace, set string, ports []string) map[string]any {
	byProto := map[string][]int{}
	for _, pp := range ports {
		proto, port, _ := strings.Cut(pp, "/")
		var n int
		fmt.Sscan(port, &n)
		byProto[proto] = append(byProto[proto], n)
	}
	protos := make([]string, 0, len(byProto))
	for p := range byProto {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	var rules []any
	for _, p := range protos {
		rules = append(rules, map[string]any{"action": "Allow", "protocol": p, "destination": map[string]any{"ports": byProto[p]}})
	}
	return map[string]any{
		"apiVersion": calicoGroup, "kind": "NetworkPolicy",
		"metadata": map[string]any{"name": PolicyPrefix + set, "namespace": namespace,
			"labels": map[string]string{ManagedBy: ManagerName, SetLabel: set}},
		"spec": map[string]any{"tier": "default", "order": PolicyOrder, "selector": fmt.Sprintf("%s == '%s'", SetLabel, set),
			"types": []string{"Ingress"}, "ingress": rules},
	}
}

// podFromJSON reads the fields Pod needs from a v1.Pod.
func podFromJSON(raw json.RawMessage) (Pod, error) {
	var o struct {
		Metadata struct {
			Namespace, Name string
			Labels          map[string]string
		}
		Spec struct {
			HostNetwork bool
			Containers  []struct {
				Ports []struct {
					ContainerPort int
					Protocol      string
				}
			}
		}
		Status struct{ Phase string }
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return Pod{}, err
	}
	p := Pod{Namespace: o.Metadata.Namespace, Name: o.Metadata.Name, Labels: o.Metadata.Labels, HostNetwork: o.Spec.HostNetwork,
		Terminated: o.Status.Phase == "Succeeded" || o.Status.Phase == "Failed"}
	seen := map[string]bool{}
	for _, c := range o.Spec.Containers {
		for _, port := range c.Ports {
			proto := port.Protocol
			if proto == "" {
				proto = "TCP"
			}
			k := fmt.Sprintf("%s/%d", proto, port.ContainerPort)
			if port.ContainerPort > 0 && !seen[k] {
				seen[k] = true
				p.Ports = append(p.Ports, k)
			}
		}
	}
	sort.Strings(p.Ports)
	return p, nil
}

// networkPolicyFromJSON reads a networking.k8s.io/v1 NetworkPolicy.
func networkPolicyFromJSON(raw json.RawMessage) (NetworkPolicy, error) {
	var o struct {
		Metadata struct{ Namespace, Name string }
		Spec     struct {
			PodSelector LabelSelector
			PolicyTypes []string
			Egress      []json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return NetworkPolicy{}, err
	}
	// Without policyTypes a policy is of Ingress type (and of Egress too when it has
	// egress rules).
	ingress := len(o.Spec.PolicyTypes) == 0
	for _, t := range o.Spec.PolicyTypes {
		ingress = ingress || t == "Ingress"
	}
	return NetworkPolicy{Namespace: o.Metadata.Namespace, Name: o.Metadata.Name, Ingress: ingress, Selector: o.Spec.PodSelector}, nil
}

// API is the part of the Kubernetes API the controller uses.
type API struct {
	Base   string
	Token  func() string
	Client *http.Client
}

// InCluster is the API as the pod's service account sees it.
func InCluster() (*API, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset")
	}
	ca, err := os.ReadFile(serviceAcct + "/ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("no certificate in " + serviceAcct + "/ca.crt")
	}
	token := func() string {
		// Read each time: the kubelet rotates the projected token.
		b, _ := os.ReadFile(serviceAcct + "/token")
		return strings.TrimSpace(string(b))
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, IdleConnTimeout: 90 * time.Second}
	return &API{Base: "https://" + net.JoinHostPort(host, port), Token: token, Client: &http.Client{Transport: tr}}, nil
}

// StatusError is an answer of the API server that is not a success.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("API server answered %d: %s", e.Code, e.Body)
}

func (a *API) do(ctx context.Context, method, path, contentType string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if a.Token != nil {
		if t := a.Token(); t != "" {
			req.Header.Set("Authorization", "Bearer "+t)
		}
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type list struct {
	Metadata struct{ ResourceVersion string }
	Items    []json.RawMessage
}

// Paths of the collections the controller reads and writes.
const (
	podsPath            = "/api/v1/pods"
	networkPoliciesPath = "/apis/networking.k8s.io/v1/networkpolicies"
)

func calicoPolicies(ns string) string {
	return "/apis/" + calicoGroup + "/namespaces/" + ns + "/networkpolicies"
}

// Controller keeps every namespace's labels and policies as Desired says.
type Controller struct {
	API *API
	Log *log.Logger

	mu       sync.Mutex
	pods     map[string]Pod
	policies map[string]NetworkPolicy
	dirty    map[string]bool
	wake     chan struct{}
	lastSync time.Time
}

// NewController returns a controller of api.
func NewController(api *API, logger *log.Logger) *Controller {
	return &Controller{API: api, Log: logger, pods: map[string]Pod{}, policies: map[string]NetworkPolicy{},
		dirty: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (c *Controller) markDirty(ns string) {
	if SystemNamespaces[ns] {
		return
	}
	c.dirty[ns] = true
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Relist reads every pod and NetworkPolicy and marks every namespace that has any dirty.
// It returns the resource versions to watch from.
func (c *Controller) Relist(ctx context.Context) (podsRV, policiesRV string, err error) {
	var pl, nl list
	if err := c.API.do(ctx, http.MethodGet, podsPath, "", nil, &pl); err != nil {
		return "", "", fmt.Errorf("list pods: %w", err)
	}
	if err := c.API.do(ctx, http.MethodGet, networkPoliciesPath, "", nil, &nl); err != nil {
		return "", "", fmt.Errorf("list network policies: %w", err)
	}
	// Namespaces that hold a policy of the controller's but, now, no pod (their pods went
	// while it was not running) need a pass too, to delete it.
	var managed list
	if err := c.API.do(ctx, http.MethodGet, "/apis/"+calicoGroup+"/networkpolicies?labelSelector="+ManagedBy+"%3D"+ManagerName, "", nil, &managed); err != nil {
		return "", "", fmt.Errorf("list Calico policies: %w", err)
	}
	pods, policies := map[string]Pod{}, map[string]NetworkPolicy{}
	for _, raw := range pl.Items {
		if p, err := podFromJSON(raw); err == nil {
			pods[p.Namespace+"/"+p.Name] = p
		}
	}
	for _, raw := range nl.Items {
		if np, err := networkPolicyFromJSON(raw); err == nil {
			policies[np.Namespace+"/"+np.Name] = np
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range []map[string]Pod{c.pods, pods} {
		for _, p := range m {
			c.markDirty(p.Namespace)
		}
	}
	for _, m := range []map[string]NetworkPolicy{c.policies, policies} {
		for _, np := range m {
			c.markDirty(np.Namespace)
		}
	}
	for _, raw := range managed.Items {
		var o struct{ Metadata struct{ Namespace string } }
		if json.Unmarshal(raw, &o) == nil {
			c.markDirty(o.Metadata.Namespace)
		}
	}
	c.pods, c.policies = pods, policies
	return pl.Metadata.ResourceVersion, nl.Metadata.ResourceVersion, nil
}

// ErrExpired is returned by Watch when the resource version is too old: relist.
var ErrExpired = errors.New("watch expired")

// Watch follows one collection from rv and applies each event, until the server ends the
// watch or ctx is done. It returns the last resource version seen.
func (c *Controller) Watch(ctx context.Context, path, rv string, apply func(typ string, raw json.RawMessage)) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		c.API.Base+path+"?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion="+rv, nil)
	if err != nil {
		return rv, err
	}
	if c.API.Token != nil {
		req.Header.Set("Authorization", "Bearer "+c.API.Token())
	}
	resp, err := c.API.Client.Do(req)
	if err != nil {
		return rv, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return rv, ErrExpired
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return rv, &StatusError{Code: resp.StatusCode, Body: string(b)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var ev struct {
			Type   string
			Object json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return rv, err
		}
		var meta struct {
			Code     int
			Metadata struct{ ResourceVersion string }
		}
		_ = json.Unmarshal(ev.Object, &meta)
		switch ev.Type {
		case "ERROR":
			if meta.Code == http.StatusGone {
				return rv, ErrExpired
			}
			return rv, fmt.Errorf("watch %s: %s", path, ev.Object)
		case "BOOKMARK":
		default:
			apply(ev.Type, ev.Object)
		}
		if meta.Metadata.ResourceVersion != "" {
			rv = meta.Metadata.ResourceVersion
		}
	}
	return rv, sc.Err()
}

func (c *Controller) applyPod(typ string, raw json.RawMessage) {
	p, err := podFromJSON(raw)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	old, had := c.pods[key]
	if typ == "DELETED" {
		delete(c.pods, key)
	} else {
		c.pods[key] = p
	}
	// A pod's own label change (the controller's patch) needs no work unless it differs
	// from what the controller would set.
	if !had || typ == "DELETED" || old.Terminated != p.Terminated || !sameLabels(old.Labels, p.Labels) {
		c.markDirty(p.Namespace)
	}
}

func (c *Controller) applyNetworkPolicy(typ string, raw json.RawMessage) {
	np, err := networkPolicyFromJSON(raw)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	key := np.Namespace + "/" + np.Name
	if typ == "DELETED" {
		delete(c.policies, key)
	} else {
		c.policies[key] = np
	}
	c.markDirty(np.Namespace)
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// SyncNamespace makes one namespace match Desired: pod labels first (so a policy never
// selects a pod that should not have it for longer than needed), then the policies.
func (c *Controller) SyncNamespace(ctx context.Context, ns string) error {
	c.mu.Lock()
	var pods []Pod
	var policies []NetworkPolicy
	for _, p := range c.pods {
		if p.Namespace == ns {
			pods = append(pods, p)
		}
	}
	for _, np := range c.policies {
		if np.Namespace == ns {
			policies = append(policies, np)
		}
	}
	c.mu.Unlock()
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	want := Desired(pods, policies)

	// Policies of the sets in use exist before pods are labelled into them.
	var existing list
	if err := c.API.do(ctx, http.MethodGet, calicoPolicies(ns)+"?labelSelector="+ManagedBy+"%3D"+ManagerName, "", nil, &existing); err != nil {
		return fmt.Errorf("list Calico policies in %s: %w", ns, err)
	}
	have := map[string]bool{}
	for _, raw := range existing.Items {
		var o struct{ Metadata struct{ Name string } }
		if json.Unmarshal(raw, &o) == nil {
			have[o.Metadata.Name] = true
		}
	}
	var errs []error
	sets := make([]string, 0, len(want.Policies))
	for s := range want.Policies {
		sets = append(sets, s)
	}
	sort.Strings(sets)
	for _, set := range sets {
		name := PolicyPrefix + set
		if have[name] {
			continue
		}
		if err := c.API.do(ctx, http.MethodPost, calicoPolicies(ns), "application/json", PolicyObject(ns, set, want.Policies[set]), nil); err != nil {
			var se *StatusError
			if !errors.As(err, &se) || se.Code != http.StatusConflict {
				errs = append(errs, fmt.Errorf("create %s/%s: %w", ns, name, err))
				continue
			}
		}
		c.Log.Printf("%s: opened %s for pods declaring them (%s)", ns, strings.Join(want.Policies[set], " "), name)
	}
	for _, p := range pods {
		set := want.Labels[p.Name]
		if p.Labels[SetLabel] == set {
			continue
		}
		var value any = set
		if set == "" {
			value = nil
		}
		patch := map[string]any{"metadata": map[string]any{"labels": map[string]any{SetLabel: value}}}
		err := c.API.do(ctx, http.MethodPatch, "/api/v1/namespaces/"+ns+"/pods/"+p.Name, "application/merge-patch+json", patch, nil)
		var se *StatusError
		switch {
		case err == nil:
			c.remember(p, set)
		case !(errors.As(err, &se) && se.Code == http.StatusNotFound):
			errs = append(errs, fmt.Errorf("label pod %s/%s: %w", ns, p.Name, err))
		}
	}
	for name := range have {
		set := strings.TrimPrefix(name, PolicyPrefix)
		if _, used := want.Policies[set]; used {
			continue
		}
		err := c.API.do(ctx, http.MethodDelete, calicoPolicies(ns)+"/"+name, "", nil, nil)
		var se *StatusError
		if err != nil && !(errors.As(err, &se) && se.Code == http.StatusNotFound) {
			errs = append(errs, fmt.Errorf("delete %s/%s: %w", ns, name, err))
			continue
		}
		c.Log.Printf("%s: removed %s, no pod declares its ports any more", ns, name)
	}
	return errors.Join(errs...)
}

// remember records the set label the controller gave a pod, so that the next pass knows it
// before the pod's watch event brings it.
func (c *Controller) remember(p Pod, set string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	cur, ok := c.pods[key]
	if !ok {
		return
	}
	labels := make(map[string]string, len(cur.Labels)+1)
	for k, v := range cur.Labels {
		labels[k] = v
	}
	if set == "" {
		delete(labels, SetLabel)
	} else {
		labels[SetLabel] = set
	}
	cur.Labels = labels
	c.pods[key] = cur
}

// Run lists, watches and syncs until ctx is done.
func (c *Controller) Run(ctx context.Context) error {
	podsRV, policiesRV, err := c.Relist(ctx)
	for err != nil {
		c.Log.Print(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
		podsRV, policiesRV, err = c.Relist(ctx)
	}
	relist := make(chan struct{}, 1)
	follow := func(path string, rv string, apply func(string, json.RawMessage)) {
		for ctx.Err() == nil {
			next, err := c.Watch(ctx, path, rv, apply)
			rv = next
			if errors.Is(err, ErrExpired) {
				select {
				case relist <- struct{}{}:
				default:
				}
				return
			}
			if err != nil && ctx.Err() == nil {
				c.Log.Printf("watch %s: %v", path, err)
				time.Sleep(2 * time.Second)
			}
		}
	}
	for {
		wctx, cancel := context.WithCancel(ctx)
		go follow(podsPath, podsRV, c.applyPod)
		go follow(networkPoliciesPath, policiesRV, c.applyNetworkPolicy)
		c.syncLoop(wctx, relist)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for podsRV, policiesRV, err = c.Relist(ctx); err != nil; podsRV, policiesRV, err = c.Relist(ctx) {
			c.Log.Print(err)
			time.Sleep(5 * time.Second)
		}
	}
}

// syncLoop syncs dirty namespaces as they come, every namespace every resyncEvery, until
// a watch expires (relist) or ctx is done. Its first pass is at once.
func (c *Controller) syncLoop(ctx context.Context, relist <-chan struct{}) {
	resync := time.NewTicker(resyncEvery)
	defer resync.Stop()
	for {
		c.mu.Lock()
		namespaces := make([]string, 0, len(c.dirty))
		for ns := range c.dirty {
			namespaces = append(namespaces, ns)
		}
		c.dirty = map[string]bool{}
		c.mu.Unlock()
		sort.Strings(namespaces)
		ok := true
		for _, ns := range namespaces {
			if err := c.SyncNamespace(ctx, ns); err != nil {
				ok = false
				c.Log.Print(err)
				c.mu.Lock()
				c.markDirty(ns)
				c.mu.Unlock()
			}
		}
		if ok {
			c.mu.Lock()
			c.lastSync = time.Now()
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-relist:
			return
		case <-resync.C:
			c.mu.Lock()
			for _, p := range c.pods {
				c.markDirty(p.Namespace)
			}
			c.mu.Unlock()
		case <-c.wake:
		}
		// Let a burst of events settle into one pass; after a failure, wait a little more.
		if ok {
			time.Sleep(settleAfter)
		} else {
			time.Sleep(2 * time.Second)
		}
	}
}

// Healthy reports whether the controller has synced within two resync periods.
func (c *Controller) Healthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.lastSync.IsZero() && time.Since(c.lastSync) < 2*resyncEvery
}

func main() {
	logger := log.New(os.Stderr, "", log.LstdFlags)
	api, err := InCluster()
	if err != nil {
		logger.Fatal(err)
	}
	c := NewController(api, logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !c.Healthy() {
			http.Error(w, "not synced", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: healthAddress, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Fatal(err)
		}
	}()
	logger.Printf("%s: opening declared ports (order %d policies, label %s)", ManagerName, PolicyOrder, SetLabel)
	if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		logger.Fatal(err)
	}
	_ = srv.Shutdown(context.Background())
}
