package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// checkRegistered proves that the node is registered in Kubernetes, Ready, with its
// planned labels and taints. The node list is read once per run through a master.
var checkRegistered = &check{
	Name:  "registered",
	Title: "Registered in Kubernetes, Ready, with the planned labels and taints",
	skip: func(t *Target) string {
		if t.Expect.Node == nil {
			return "not a Kubernetes node (runs no kubelet)"
		}
		return ""
	},
	run: func(ctx context.Context, n *node) CheckResult {
		nodes, via, err := n.cluster.nodeList(ctx)
		if errors.Is(err, errNoKubectl) {
			return skipped("no master with kubectl access is given, so the node list cannot be read")
		}
		if err != nil {
			return failedf("%v", err)
		}
		exp := n.t.Expect.Node
		name := orDefault(exp.Name, n.t.Host)
		kn, ok := nodes[name]
		if !ok {
			return failedf("node %s is not registered (kubectl get nodes on %s lists %d: %s); is its kubelet running? (see units)", name, via, len(nodes), strings.Join(sortedKeys(nodes), ", "))
		}
		var problems []string
		if kn.ready != "True" {
			problems = append(problems, fmt.Sprintf("not Ready (Ready=%s: %s)", orDefault(kn.ready, "unknown"), orDefault(kn.readyWhy, "no reason given")))
		}
		for _, k := range sortedKeys(exp.Labels) {
			got, ok := kn.labels[k]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("label %s=%s missing", k, exp.Labels[k]))
			case got != exp.Labels[k]:
				problems = append(problems, fmt.Sprintf("label %s is %q, planned %q", k, got, exp.Labels[k]))
			}
		}
		missing, extra := setDiff(exp.Taints, kn.taints)
		for _, t := range missing {
			problems = append(problems, "taint "+t+" missing")
		}
		for _, t := range extra {
			if !managedTaint(t) {
				problems = append(problems, "taint "+t+" is not in the plan")
			}
		}
		if len(problems) > 0 {
			return failedf("node %s: %s", name, strings.Join(problems, "; "))
		}
		return passed("Ready, %d planned labels and %d taints present (via %s)", len(exp.Labels), len(exp.Taints), via)
	},
}

// managedTaint reports whether Kubernetes itself manages a taint (not-ready,
// unreachable, uninitialized, …), so that it is no error for it to be there.
func managedTaint(t string) bool {
	return strings.HasPrefix(t, "node.kubernetes.io/") || strings.HasPrefix(t, "node.cloudprovider.kubernetes.io/")
}

var errNoKubectl = errors.New("no master with kubectl access")

// kubeNode is what verify needs of a Kubernetes Node object.
type kubeNode struct {
	labels   map[string]string
	taints   []string
	ready    string // the Ready condition's status: True, False, Unknown
	readyWhy string
}

// cluster holds what is read once per run for every node: the Kubernetes node list.
type cluster struct {
	masters []*Target
	o       *Options

	// wantPods: some target expects its calico-node pod Ready.
	wantPods bool

	once  sync.Once
	nodes map[string]kubeNode
	via   string
	err   error
	// calico holds the calico-node pods by node name, or podsErr why they are unknown.
	calico  map[string]kubePod
	podsErr error
	// wantBird: some target reads BIRD's sessions in its calico-node pod; bird holds
	// what birdcl printed there, by node name.
	wantBird bool
	bird     map[string]birdOutput
}

// kubePod is what verify needs of a calico-node pod.
type kubePod struct {
	name  string
	ready bool
	why   string // why it is not Ready
}

func newCluster(targets []Target, o *Options) *cluster {
	c := &cluster{o: o}
	for i := range targets {
		if targets[i].Expect.Kubectl != nil {
			c.masters = append(c.masters, &targets[i])
		}
		if cal := targets[i].Expect.Calico; cal != nil && (cal.PodReady || cal.BirdInPod) {
			c.wantPods = true
			c.wantBird = c.wantBird || cal.BirdInPod
		}
	}
	return c
}

// nodeList returns the cluster's nodes by name and the master that listed them. The first
// caller fetches; the others wait for its answer.
func (c *cluster) nodeList(ctx context.Context) (map[string]kubeNode, string, error) {
	c.once.Do(func() { c.nodes, c.via, c.err = c.fetch(ctx) })
	return c.nodes, c.via, c.err
}

// fetch asks each master in turn, over a connection of its own, until one answers.
func (c *cluster) fetch(ctx context.Context) (map[string]kubeNode, string, error) {
	if len(c.masters) == 0 {
		return nil, "", errNoKubectl
	}
	var errs []string
	for _, m := range c.masters {
		nodes, pods, podsErr, err := c.fetchFrom(ctx, m)
		if err == nil {
			c.calico, c.podsErr = pods, podsErr
			return nodes, m.Host, nil
		}
		errs = append(errs, m.Host+": "+firstLine(err.Error()))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", fmt.Errorf("cannot list the Kubernetes nodes through any master: %s", strings.Join(errs, "; "))
}

// fetchFrom lists the nodes (and, when wanted, the calico-node pods) on master m.
func (c *cluster) fetchFrom(ctx context.Context, m *Target) (nodes map[string]kubeNode, pods map[string]kubePod, podsErr, err error) {
	conn, _, err := dial(ctx, m, c.o)
	if err != nil {
		return nil, nil, nil, err
	}
	n := &node{t: m, c: conn, o: c.o}
	defer func() { n.c.close() }()
	argv := append(kubectlArgv(m.Expect.Kubectl), "--request-timeout=20s", "get", "nodes", "-o", "json")
	out, err := n.exec(ctx, true, argv...)
	if err != nil {
		return nil, nil, nil, err
	}
	if out.Exit != 0 {
		return nil, nil, nil, errors.New(commandFailed(argv, out))
	}
	if nodes, err = parseNodeList(out.Stdout); err != nil || !c.wantPods {
		return nodes, nil, nil, err
	}
	pargv := append(kubectlArgv(m.Expect.Kubectl), "--request-timeout=20s", "get", "pods", "-n", "kube-system", "-l", "k8s-app=calico-node", "-o", "json")
	pout, err := n.exec(ctx, true, pargv...)
	switch {
	case err != nil:
		podsErr = err
	case pout.Exit != 0:
		podsErr = errors.New(commandFailed(pargv, pout))
	default:
		pods, podsErr = parsePodList(pout.Stdout)
	}
	if c.wantBird && podsErr == nil {
		c.bird = birdSessionsOf(ctx, n, m.Expect.Kubectl, pods)
	}
	return nodes, pods, podsErr, nil
}

// parsePodList reads `kubectl get pods -o json` into pods by node name, with why each
// is not Ready: its Ready condition and its containers' states.
func parsePodList(data []byte) (map[string]kubePod, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				NodeName string `json:"nodeName"`
			} `json:"spec"`
			Status struct {
				Phase      string `json:"phase"`
				Conditions []struct {
					Type    string `json:"type"`
					Status  string `json:"status"`
					Reason  string `json:"reason"`
					Message string `json:"message"`
				} `json:"conditions"`
				ContainerStatuses []struct {
					Name         string `json:"name"`
					Ready        bool   `json:"ready"`
					RestartCount int    `json:"restartCount"`
					State        map[string]struct {
						Reason  string `json:"reason"`
						Message string `json:"message"`
					} `json:"state"`
				} `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("unreadable pod list: %v", err)
	}
	pods := map[string]kubePod{}
	for _, it := range list.Items {
		p := kubePod{name: it.Metadata.Name}
		why := []string{"phase " + orDefault(it.Status.Phase, "unknown")}
		for _, cd := range it.Status.Conditions {
			if cd.Type == "Ready" {
				p.ready = cd.Status == "True"
				if !p.ready && (cd.Reason != "" || cd.Message != "") {
					why = append(why, strings.TrimSpace(cd.Reason+" "+cd.Message))
				}
			}
		}
		for _, cs := range it.Status.ContainerStatuses {
			if cs.Ready {
				continue
			}
			for _, state := range sortedKeys(cs.State) {
				st := cs.State[state]
				s := fmt.Sprintf("container %s %s", cs.Name, state)
				if st.Reason != "" {
					s += " (" + st.Reason + ")"
				}
				if st.Message != "" {
					s += ": " + firstLine(st.Message)
				}
				why = append(why, fmt.Sprintf("%s, %d restarts", s, cs.RestartCount))
			}
		}
		p.why = strings.Join(why, "; ")
		if it.Spec.NodeName != "" {
			pods[it.Spec.NodeName] = p
		}
	}
	return pods, nil
}

// parseNodeList reads `kubectl get nodes -o json`.
func parseNodeList(data []byte) (map[string]kubeNode, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Taints []struct {
					Key    string `json:"key"`
					Value  string `json:"value"`
					Effect string `json:"effect"`
				} `json:"taints"`
			} `json:"spec"`
			Status struct {
				Conditions []struct {
					Type    string `json:"type"`
					Status  string `json:"status"`
					Reason  string `json:"reason"`
					Message string `json:"message"`
				} `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("unreadable node list: %v", err)
	}
	nodes := make(map[string]kubeNode, len(list.Items))
	for _, it := range list.Items {
		kn := kubeNode{labels: it.Metadata.Labels}
		for _, t := range it.Spec.Taints {
			s := t.Key
			if t.Value != "" {
				s += "=" + t.Value
			}
			kn.taints = append(kn.taints, s+":"+t.Effect)
		}
		slices.Sort(kn.taints)
		for _, cd := range it.Status.Conditions {
			if cd.Type == "Ready" {
				kn.ready = cd.Status
				kn.readyWhy = strings.TrimSpace(cd.Reason + ": " + cd.Message)
			}
		}
		nodes[it.Metadata.Name] = kn
	}
	return nodes, nil
}
