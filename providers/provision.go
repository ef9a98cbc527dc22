package providers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/kisgen/kisgen/intent"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
)

// now is the clock of the instances record.
var now = time.Now

// Provision refuses user-data prov does not take (CheckUserData) before anything is
// created, boots the machines with prov and then records, whatever prov returned (a failed
// run's partial result too), where each node's machine is and which host key it must
// present: the instances record (STATE/instances.json) that `kisgen verify` reads. This is
// the one place the record is written, the same way for every provider.
//
// It also keeps the record of intent (package intent): the fingerprint of the user-data
// each machine booted with. With opts.Replace it then replaces, one at a time and in a
// safe order, the machines whose user-data changed since (see PlanRollout), with
// opts.Prune it removes the machines of nodes no longer in the plan; without them it
// says what it leaves.
func Provision(ctx context.Context, prov Provider, p *plan.Plan, machines []Machine, opts Options) ([]Instance, error) {
	if err := CheckUserData(prov, p, machines); err != nil {
		return nil, err // before anything is created
	}
	r, err := rolloutFor(prov, p, machines, opts)
	if err != nil {
		return nil, err // before anything is created
	}
	if todo := (Rollout{}); opts.Confirm != nil {
		if opts.Replace {
			todo.Replace = r.Replace
		}
		if opts.Prune {
			todo.Remove = r.Remove
		}
		if len(todo.Replace)+len(todo.Remove) > 0 {
			if err := opts.Confirm(todo); err != nil {
				return nil, err // before anything is created
			}
		}
	}
	got, err := prov.Provision(ctx, p, machines, opts)
	if rerr := record(p, prov.Name(), got, machines, opts); rerr != nil {
		return got, errors.Join(err, fmt.Errorf("record the instances: %w", rerr))
	}
	if err != nil {
		return got, err
	}
	prog := NewProgress(opts.Progress, prov.Name())
	if !opts.Replace {
		for _, s := range r.Replace {
			prog.Node(s.Host, "kept, though its user-data changed since it booted (--replace replaces it)")
		}
		r.Replace = nil
	}
	if !opts.Prune {
		for _, s := range r.Remove {
			prog.Node(s.Host, "no longer in the plan, its machine kept (--prune removes it)")
		}
		r.Remove = nil
	}
	return got, rollout(ctx, prov, p, machines, opts, r, &got)
}

// rolloutFor works out the replacements and removals from the record of intent, and
// refuses them up front when the provider cannot remove single machines.
func rolloutFor(prov Provider, p *plan.Plan, machines []Machine, opts Options) (Rollout, error) {
	if opts.StateDir == "" {
		return Rollout{}, nil
	}
	rec, err := intent.LoadOrNew(opts.StateDir, p.Name)
	if err != nil {
		return Rollout{}, err
	}
	r := PlanRollout(p, machines, rec)
	if _, ok := prov.(Remover); !ok && ((opts.Replace && len(r.Replace) > 0) || (opts.Prune && len(r.Remove) > 0)) {
		return r, fmt.Errorf("%w: %s cannot remove single machines yet, so it cannot replace or prune: replace or remove them by hand (then run provision again)", ErrUnsupported, prov.Name())
	}
	return r, nil
}

// Destroy removes what prov created and then the instances record, if it lists prov's
// machines of this cluster. After a failed Destroy the record stays: machines may be left.
func Destroy(ctx context.Context, prov Provider, p *plan.Plan, opts Options) error {
	if err := prov.Destroy(ctx, p, opts); err != nil {
		return err
	}
	return instances.Remove(opts.StateDir, p.Name, prov.Name())
}

// SSHAddress is where a node's sshd is reached, with the plan's ssh_port: the plan's ip
// when the provider reports the machine holding it (or reports no address at all), else
// the first address the provider reports, in the order given (public before private).
// The plan's ip is `kisgen`'s way in by definition; an address the provider assigned
// instead (a cloud's public ip) is the one that provably reaches this machine.
func SSHAddress(p *plan.Plan, n *plan.Node, reported ...string) string {
	port := strconv.Itoa(p.SSH.Port)
	first := ""
	for _, a := range reported {
		if a == n.IP.String() {
			return net.JoinHostPort(a, port)
		}
		if first == "" && a != "" {
			first = a
		}
	}
	if first == "" {
		first = n.IP.String()
	}
	return net.JoinHostPort(first, port)
}

// recordInstances merges what a provisioning run returned into the instances record.
// A node the run returned without a machine id (it failed before one existed) keeps its
// earlier entry, if the record lists the same provider and cluster; nodes no longer in
// the plan leave it. A machine kept from an earlier run keeps the host key recorded
// when it was created: it still runs the user-data it booted with. An entry that did not
// change keeps its time, so a second run that creates nothing writes the same bytes.
func recordInstances(p *plan.Plan, provider string, got []Instance, opts Options) error {
	if opts.StateDir == "" {
		return nil
	}
	prog := NewProgress(opts.Progress, provider)
	prev, err := instances.Load(opts.StateDir)
	switch {
	case errors.Is(err, instances.ErrNoRecord):
		prev = nil
	case errors.Is(err, instances.ErrBadRecord):
		prog.Printf("replacing an unreadable instances record: %v", err)
		prev = nil
	case err != nil:
		return err
	case prev.Cluster != p.Name || prev.Provider != provider:
		prog.Printf("%s listed the machines %s booted for cluster %s; it now lists %s's", instances.Path(opts.StateDir), prev.Provider, prev.Cluster, provider)
		prev = nil
	}
	old := map[string]instances.Instance{}
	if prev != nil {
		for _, in := range prev.Instances {
			old[in.Node] = in
		}
	}
	byHost := map[string]Instance{}
	for _, in := range got {
		byHost[in.Host] = in
	}
	stamp := now().UTC().Truncate(time.Second)
	rec := instances.Record{Cluster: p.Name, Provider: provider}
	for _, n := range p.Nodes {
		in, ok := byHost[n.Host]
		o, had := old[n.Host]
		if !ok || in.ID == "" {
			if had {
				rec.Instances = append(rec.Instances, o)
			}
			continue
		}
		e := instances.Instance{Node: n.Host, Machine: in.ID, SSHAddress: in.SSHAddr, HostKey: opts.HostKeys[n.Host], APIAddress: in.APIAddr}
		if e.SSHAddress == "" {
			e.SSHAddress = SSHAddress(p, n)
		}
		if had && o.Machine == e.Machine && !in.Created && o.HostKey != "" {
			e.HostKey = o.HostKey
		}
		if had && e.Machine == o.Machine && e.SSHAddress == o.SSHAddress && e.HostKey == o.HostKey && e.APIAddress == o.APIAddress {
			e.RecordedAt = o.RecordedAt
		} else {
			e.RecordedAt = stamp
		}
		rec.Instances = append(rec.Instances, e)
	}
	if prev == nil && len(rec.Instances) == 0 {
		return nil // nothing exists to verify, and nothing was recorded before
	}
	return instances.Save(opts.StateDir, rec)
}
