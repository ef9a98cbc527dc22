// Package kubeapi is the little of the Kubernetes API kisgen's day-two operations use,
// over HTTPS with the admin kubeconfig of the state directory: nodes (Ready, version,
// cordon, delete), draining a node through the eviction API (which respects
// PodDisruptionBudgets) and the API server's readiness. It speaks the API's JSON
// directly: a full client library would bring far more than these few calls need.
package kubeapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kisgen/kisgen/pki"
)

// ErrStatus is an answer of the API server that is not a success.
var ErrStatus = errors.New("API server answered")

// Client talks to one API server.
type Client struct {
	server string
	http   *http.Client
	// Poll is how often waits ask again (default 5 s).
	Poll time.Duration
}

// New returns a client for the kubeconfig (kisgen's: one cluster, one user with an
// embedded certificate). server, when not "", replaces the kubeconfig's (a port forward
// to a master, https://127.0.0.1:PORT: the API servers' certificates name 127.0.0.1).
func New(kubeconfig []byte, server string) (*Client, error) {
	k, err := pki.ParseKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	caPEM, certPEM, keyPEM, err := k.Decoded()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("kubeconfig: no CA certificate")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if server == "" && len(k.Clusters) > 0 {
		server = k.Clusters[0].Cluster.Server
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	return &Client{server: strings.TrimSuffix(server, "/"), http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, Poll: 5 * time.Second}, nil
}

// Server is the API server's URL the client uses.
func (c *Client) Server() string { return c.server }

func (c *Client) do(ctx context.Context, method, path, contentType string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if resp.StatusCode/100 != 2 {
		var st struct{ Message string }
		_ = json.Unmarshal(data, &st)
		if st.Message == "" {
			st.Message = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, fmt.Errorf("%w %s to %s %s: %s", ErrStatus, resp.Status, method, path, st.Message)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Node is what kisgen reads of a Node.
type Node struct {
	Name          string
	Ready         bool
	Unschedulable bool
	// KubeletVersion is what the node's kubelet reports (v1.37.2).
	KubeletVersion string
	InternalIP     string
	Labels         map[string]string
}

type nodeJSON struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Unschedulable bool `json:"unschedulable"`
	} `json:"spec"`
	Status struct {
		Conditions []struct{ Type, Status string }  `json:"conditions"`
		Addresses  []struct{ Type, Address string } `json:"addresses"`
		NodeInfo   struct {
			KubeletVersion string `json:"kubeletVersion"`
		} `json:"nodeInfo"`
	} `json:"status"`
}

func (n nodeJSON) node() Node {
	out := Node{Name: n.Metadata.Name, Unschedulable: n.Spec.Unschedulable, KubeletVersion: n.Status.NodeInfo.KubeletVersion, Labels: n.Metadata.Labels}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			out.Ready = c.Status == "True"
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type == "InternalIP" {
			out.InternalIP = a.Address
		}
	}
	return out
}

// Nodes lists every node.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var list struct{ Items []nodeJSON }
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/nodes", "", nil, &list); err != nil {
		return nil, err
	}
	out := make([]Node, 0, len(list.Items))
	for _, n := range list.Items {
		out = append(out, n.node())
	}
	return out, nil
}

// GetNode reads one node; found is false when there is none of that name.
func (c *Client) GetNode(ctx context.Context, name string) (n Node, found bool, err error) {
	var j nodeJSON
	code, err := c.do(ctx, http.MethodGet, "/api/v1/nodes/"+url.PathEscape(name), "", nil, &j)
	if code == http.StatusNotFound {
		return Node{}, false, nil
	}
	if err != nil {
		return Node{}, false, err
	}
	return j.node(), true, nil
}

// Cordon marks a node unschedulable.
func (c *Client) Cordon(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodPatch, "/api/v1/nodes/"+url.PathEscape(name), "application/merge-patch+json",
		map[string]any{"spec": map[string]any{"unschedulable": true}}, nil)
	return err
}

// DeleteNode deletes a Node object; one that is gone already is no error.
func (c *Client) DeleteNode(ctx context.Context, name string) error {
	code, err := c.do(ctx, http.MethodDelete, "/api/v1/nodes/"+url.PathEscape(name), "", nil, nil)
	if code == http.StatusNotFound {
		return nil
	}
	return err
}

type podJSON struct {
	Metadata struct {
		Name            string                  `json:"name"`
		Namespace       string                  `json:"namespace"`
		Annotations     map[string]string       `json:"annotations"`
		OwnerReferences []struct{ Kind string } `json:"ownerReferences"`
	} `json:"metadata"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

// evictable: what `kubectl drain --ignore-daemonsets` evicts: not a DaemonSet's pod (its
// controller would put it back), not a static pod's mirror, not a finished pod.
func (p podJSON) evictable() bool {
	if _, mirror := p.Metadata.Annotations["kubernetes.io/config.mirror"]; mirror {
		return false
	}
	for _, o := range p.Metadata.OwnerReferences {
		if o.Kind == "DaemonSet" {
			return false
		}
	}
	return p.Status.Phase != "Succeeded" && p.Status.Phase != "Failed"
}

func (c *Client) podsOn(ctx context.Context, node string) ([]podJSON, error) {
	var list struct{ Items []podJSON }
	q := url.Values{"fieldSelector": {"spec.nodeName=" + node}}
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/pods?"+q.Encode(), "", nil, &list); err != nil {
		return nil, err
	}
	var out []podJSON
	for _, p := range list.Items {
		if p.evictable() {
			out = append(out, p)
		}
	}
	return out, nil
}

// Drain cordons the node and evicts its pods through the eviction API, so that
// PodDisruptionBudgets are respected: an eviction a budget refuses (429) is asked again
// until the budget allows it (a replacement pod elsewhere became ready) or the timeout
// passes, which fails naming the pods left. It returns once the evicted pods are gone.
// progress, when not nil, is told of each eviction.
func (c *Client) Drain(ctx context.Context, node string, timeout time.Duration, progress func(string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	if err := c.Cordon(ctx, node); err != nil {
		return fmt.Errorf("cordon %s: %w", node, err)
	}
	deadline := time.Now().Add(timeout)
	blocked := map[string]string{}
	for {
		pods, err := c.podsOn(ctx, node)
		if err != nil {
			return err
		}
		if len(pods) == 0 {
			return nil
		}
		for _, p := range pods {
			key := p.Metadata.Namespace + "/" + p.Metadata.Name
			ev := map[string]any{"apiVersion": "policy/v1", "kind": "Eviction",
				"metadata": map[string]string{"name": p.Metadata.Name, "namespace": p.Metadata.Namespace}}
			code, err := c.do(ctx, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(p.Metadata.Namespace)+"/pods/"+url.PathEscape(p.Metadata.Name)+"/eviction",
				"application/json", ev, nil)
			switch {
			case err == nil:
				if blocked[key] != "evicted" {
					progress("evicted " + key)
				}
				blocked[key] = "evicted"
			case code == http.StatusNotFound:
			case code == http.StatusTooManyRequests:
				if blocked[key] == "" {
					progress("waiting for the disruption budget of " + key)
				}
				blocked[key] = err.Error()
			default:
				return fmt.Errorf("evict %s: %w", key, err)
			}
		}
		if time.Now().After(deadline) {
			var left []string
			for _, p := range pods {
				key := p.Metadata.Namespace + "/" + p.Metadata.Name
				left = append(left, key+" ("+blocked[key]+")")
			}
			return fmt.Errorf("drain %s: pods still there after %s: %s", node, timeout, strings.Join(left, "; "))
		}
		if err := c.Pause(ctx); err != nil {
			return err
		}
	}
}

// Pause waits one Poll interval between two looks at the cluster, or until ctx ends
// (its error).
func (c *Client) Pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(c.Poll):
		return nil
	}
}

// Ready says whether the API server answers /readyz (its etcd included).
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodGet, "/readyz", "", nil, nil)
	return err
}

// WaitNodeReady waits until the node is registered and Ready; the error says what it
// last saw.
func (c *Client) WaitNodeReady(ctx context.Context, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "not registered"
	for {
		n, found, err := c.GetNode(ctx, name)
		switch {
		case err != nil:
			last = err.Error()
		case found && n.Ready:
			return nil
		case found:
			last = "registered, not Ready"
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s not Ready after %s: %s", name, timeout, last)
		}
		if err := c.Pause(ctx); err != nil {
			return err
		}
	}
}

// ConfigMapData reads a ConfigMap's data; found is false when there is none.
func (c *Client) ConfigMapData(ctx context.Context, namespace, name string) (data map[string]string, found bool, err error) {
	var cm struct{ Data map[string]string }
	code, err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/configmaps/"+url.PathEscape(name), "", nil, &cm)
	if code == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return cm.Data, true, nil
}

// SetConfigMapData adds data to a ConfigMap (a merge patch), creating it when there is
// none.
func (c *Client) SetConfigMapData(ctx context.Context, namespace, name string, data map[string]string) error {
	path := "/api/v1/namespaces/" + url.PathEscape(namespace) + "/configmaps/" + url.PathEscape(name)
	code, err := c.do(ctx, http.MethodPatch, path, "application/merge-patch+json", map[string]any{"data": data}, nil)
	if code != http.StatusNotFound {
		return err
	}
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]string{"name": name, "namespace": namespace}, "data": data}
	_, err = c.do(ctx, http.MethodPost, "/api/v1/namespaces/"+url.PathEscape(namespace)+"/configmaps", "application/json", cm, nil)
	return err
}
