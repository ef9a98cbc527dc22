package cmd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/kisgen/kisgen/kubeapi"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/roles"
)

// clusterSteps does the cluster's side of replacing and removing machines through the
// Kubernetes API, as the state directory's admin (providers.ClusterSteps).
type clusterSteps struct {
	p          *plan.Plan
	kubeconfig []byte
	state      string
	out        io.Writer
	// Drain and Join bound a drain and the wait for a new machine.
	Drain, Join time.Duration
}

// newClusterSteps reads the admin kubeconfig of the state directory's PKI.
func newClusterSteps(p *plan.Plan, state string, out io.Writer) (*clusterSteps, error) {
	b, err := pki.Load(state)
	if err != nil {
		return nil, err
	}
	kc, ok := b.Kubeconfig(pki.Admin)
	if !ok {
		return nil, fmt.Errorf("%w: no admin kubeconfig in %s (run `kisgen render`)", pki.ErrNoState, state)
	}
	return &clusterSteps{p: p, kubeconfig: kc, state: state, out: out, Drain: 15 * time.Minute, Join: 45 * time.Minute}, nil
}

// client reaches the API through a master other than avoid: its port forward when the
// instances record has one (local VMs), else the plan's API server address.
func (s *clusterSteps) client(avoid string) (*kubeapi.Client, error) {
	return kubeClient(s.p, s.state, s.kubeconfig, avoid)
}

func kubeClient(p *plan.Plan, state string, kubeconfig []byte, avoid string) (*kubeapi.Client, error) {
	server := ""
	if rec, err := instances.Load(state); err == nil && rec.Cluster == p.Name {
		for _, in := range rec.Instances {
			if in.APIAddress == "" {
				continue
			}
			// Another master's, else (a single master, still running) its own.
			if server == "" || in.Node != avoid {
				server = "https://" + in.APIAddress
			}
			if in.Node != avoid {
				break
			}
		}
	}
	return kubeapi.New(kubeconfig, server)
}

func kubernetesRole(roles []string) bool {
	for _, r := range roles {
		if r != string(plan.RoleEtcd) {
			return true
		}
	}
	return false
}

// Leave drains a Kubernetes node (evictions respect PodDisruptionBudgets) and deletes
// its Node, so that the new machine registers afresh (not cordoned). An etcd member
// needs nothing here when it is replaced: the new machine removes the member it
// replaces when it joins.
func (s *clusterSteps) Leave(ctx context.Context, host string, roles []string, replaced bool) error {
	if slices.Contains(roles, string(plan.RoleEtcd)) && !replaced {
		if err := s.removeMember(ctx, host); err != nil {
			return err
		}
	}
	if !kubernetesRole(roles) {
		return nil
	}
	c, err := s.client(host)
	if err != nil {
		return err
	}
	if _, found, err := c.GetNode(ctx, host); err != nil {
		return err
	} else if !found {
		return nil // never registered, or deleted already
	}
	fmt.Fprintf(s.out, "kisgen: %s: cordon and drain\n", host)
	if err := c.Drain(ctx, host, s.Drain, func(msg string) { fmt.Fprintf(s.out, "kisgen: %s: %s\n", host, msg) }); err != nil {
		return err
	}
	return c.DeleteNode(ctx, host)
}

// Joined waits for the new machine: a Kubernetes node Ready, then the API server ready
// (which asks etcd) three times in a row.
func (s *clusterSteps) Joined(ctx context.Context, host string, roles []string) error {
	c, err := s.client("")
	if err != nil {
		return err
	}
	if kubernetesRole(roles) {
		fmt.Fprintf(s.out, "kisgen: %s: waiting for the node to be Ready\n", host)
		if err := c.WaitNodeReady(ctx, host, s.Join); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(s.Join)
	ok := 0
	for ok < 3 {
		if err := c.Ready(ctx); err != nil {
			ok = 0
			if time.Now().After(deadline) {
				return fmt.Errorf("the API server is not ready: %w", err)
			}
		} else {
			ok++
		}
		if err := c.Pause(ctx); err != nil {
			return err
		}
	}
	return nil
}

// removeMember asks the masters' kisgen-sync, through the API, to remove an etcd member
// that leaves the plan (kisgen does not reach etcd itself), and waits until it is done:
// the request is forgotten once the member is gone.
func (s *clusterSteps) removeMember(ctx context.Context, host string) error {
	c, err := s.client(host)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "kisgen: %s: asking the masters to remove its etcd member\n", host)
	if err := c.SetConfigMapData(ctx, "kube-system", roles.EtcdRemoveConfigMap, map[string]string{host: "remove"}); err != nil {
		return err
	}
	deadline := time.Now().Add(s.Drain)
	for {
		data, _, err := c.ConfigMapData(ctx, "kube-system", roles.EtcdRemoveConfigMap)
		if err == nil {
			if _, pending := data[host]; !pending {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd member %s not removed after %s (see journalctl -u kisgen-sync on a master): %v", host, s.Drain, err)
		}
		if err := c.Pause(ctx); err != nil {
			return err
		}
	}
}
