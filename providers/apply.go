package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/kisgen/kisgen/intent"
	"github.com/kisgen/kisgen/plan"
)

// Actions of a day-two run besides Preview's.
const (
	// ActionReplace: the machine's user-data changed since it booted; --replace replaces it.
	ActionReplace = "replace"
	// ActionChanged: the same, without --replace: the machine is kept as it is.
	ActionChanged = "changed"
)

// Rollout is what a run does to the machines besides creating the missing ones: the
// nodes whose user-data changed since their machine booted, in the order they are
// replaced, and the nodes no longer in the plan.
type Rollout struct {
	Replace []Step
	Remove  []Step
}

// Step is one machine to replace or remove.
type Step struct {
	Host  string
	Roles []string
	// From and To are the fingerprints of the user-data it booted with and of the
	// rendered one ("" for a removal).
	From, To string
}

// Fingerprint is the sha256 of a machine's user-data, as the record of intent keeps it.
func Fingerprint(userData []byte) string {
	sum := sha256.Sum256(userData)
	return hex.EncodeToString(sum[:])
}

// PlanRollout compares the rendered user-data with the record of intent. Replacements
// come in a safe order: etcd members one at a time first (each new one joins before the
// next goes, so a quorum stays), then masters, then the other nodes; plan order within.
func PlanRollout(p *plan.Plan, machines []Machine, rec *intent.Record) Rollout {
	var r Rollout
	for _, m := range machines {
		n, ok := rec.Nodes[m.Node.Host]
		if !ok || n.Fingerprint == "" {
			continue
		}
		if to := Fingerprint(m.UserData); to != n.Fingerprint {
			r.Replace = append(r.Replace, Step{Host: m.Node.Host, Roles: roleNames(m.Node), From: n.Fingerprint, To: to})
		}
	}
	rank := func(s Step) int {
		switch {
		case slices.Contains(s.Roles, string(plan.RoleEtcd)):
			return 0
		case slices.Contains(s.Roles, string(plan.RoleMaster)):
			return 1
		}
		return 2
	}
	sort.SliceStable(r.Replace, func(i, j int) bool { return rank(r.Replace[i]) < rank(r.Replace[j]) })
	for _, h := range rec.Hosts() {
		if p.Node(h) == nil {
			r.Remove = append(r.Remove, Step{Host: h, Roles: rec.Nodes[h].Roles, From: rec.Nodes[h].Fingerprint})
		}
	}
	// Workers go first, etcd members last: the cluster keeps its control plane longest.
	sort.SliceStable(r.Remove, func(i, j int) bool { return rank(r.Remove[i]) > rank(r.Remove[j]) })
	return r
}

func roleNames(n *plan.Node) []string {
	out := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		out[i] = string(r)
	}
	return out
}

// rollout replaces and removes machines after the run created the missing ones: one
// machine at a time, the cluster's side first (drain), then the machine, then waiting
// for the new one to join. It stops at the first failure, which it names; a later run
// resumes where it stopped (the record of intent still holds the old fingerprint of a
// machine not replaced yet).
func rollout(ctx context.Context, prov Provider, p *plan.Plan, machines []Machine, opts Options, r Rollout, got *[]Instance) error {
	if len(r.Replace) == 0 && len(r.Remove) == 0 {
		return nil
	}
	prog := NewProgress(opts.Progress, prov.Name())
	rem, ok := prov.(Remover)
	if !ok {
		return fmt.Errorf("%w: %s cannot remove single machines: replace or remove them by hand, then run provision again", ErrUnsupported, prov.Name())
	}
	byHost := map[string]Machine{}
	for _, m := range machines {
		byHost[m.Node.Host] = m
	}
	// retire takes the node out of the cluster (cordoned and drained, its Node deleted
	// unless a new machine takes its place) and removes its machine.
	retire := func(s Step, replacing bool) error {
		if opts.Cluster != nil {
			if err := opts.Cluster.Leave(ctx, s.Host, s.Roles, replacing); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
		}
		if err := rem.Remove(ctx, p, []string{s.Host}, opts); err != nil {
			return fmt.Errorf("remove the machine: %w", err)
		}
		return nil
	}
	for i, s := range r.Replace {
		prog.Node(s.Host, "replacing (%d of %d): its user-data changed since it booted", i+1, len(r.Replace))
		if err := step(ctx, opts, s, "replace", func() error {
			if err := retire(s, true); err != nil {
				return err
			}
			in, err := prov.Provision(ctx, p, []Machine{byHost[s.Host]}, opts)
			*got = mergeInstances(*got, in)
			if rerr := record(p, prov.Name(), *got, machines, opts); rerr != nil {
				err = errors.Join(err, rerr)
			}
			if err != nil {
				return fmt.Errorf("create the new machine: %w", err)
			}
			if opts.Cluster != nil {
				if err := opts.Cluster.Joined(ctx, s.Host, s.Roles); err != nil {
					return fmt.Errorf("the new machine did not join: %w", err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		prog.Node(s.Host, "replaced")
	}
	for _, s := range r.Remove {
		prog.Node(s.Host, "removing: no longer in the plan")
		if err := step(ctx, opts, s, "remove", func() error {
			if err := retire(s, false); err != nil {
				return err
			}
			// The run's summary lists the machines there are: not this one any more.
			*got = slices.DeleteFunc(*got, func(in Instance) bool { return in.Host == s.Host })
			return forget(opts.StateDir, s.Host)
		}); err != nil {
			return err
		}
		prog.Node(s.Host, "removed")
	}
	return nil
}

// step runs one replacement or removal and keeps it in the history: started, then ok or
// failed with the reason.
func step(ctx context.Context, opts Options, s Step, action string, f func() error) error {
	ev := intent.Event{Time: now().UTC().Truncate(0), Action: action, Host: s.Host, From: s.From, To: s.To, Outcome: "started"}
	if opts.StateDir != "" {
		if err := intent.Append(opts.StateDir, ev); err != nil {
			return err
		}
	}
	err := f()
	ev.Time, ev.Outcome = now().UTC(), "ok"
	if err != nil {
		ev.Outcome, ev.Detail = "failed", err.Error()
		err = &NodeError{Host: s.Host, Err: fmt.Errorf("%s stopped here: %w (fix it, then run again: the rest waits)", action, err)}
	}
	if opts.StateDir != "" {
		if aerr := intent.Append(opts.StateDir, ev); aerr != nil {
			err = errors.Join(err, aerr)
		}
	}
	if err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func mergeInstances(all, more []Instance) []Instance {
	for _, in := range more {
		replaced := false
		for i := range all {
			if all[i].Host == in.Host {
				all[i], replaced = in, true
			}
		}
		if !replaced {
			all = append(all, in)
		}
	}
	return all
}

// recordIntent keeps in the record of intent what the run applied: a created machine
// booted with its rendered user-data; a kept machine still runs what it booted with
// (its fingerprint stays), and a machine kisgen finds without a record (created before
// kisgen kept one) is taken to run the rendered user-data.
func recordIntent(p *plan.Plan, got []Instance, machines []Machine, opts Options) error {
	if opts.StateDir == "" {
		return nil
	}
	rec, err := intent.LoadOrNew(opts.StateDir, p.Name)
	if err != nil {
		return err
	}
	if rec.EtcdInitialCluster == "" {
		rec.EtcdInitialCluster = opts.EtcdInitialCluster
	}
	byHost := map[string]Machine{}
	for _, m := range machines {
		byHost[m.Node.Host] = m
	}
	stamp := now().UTC().Truncate(0)
	var events []intent.Event
	changed := false
	for _, in := range got {
		m, ok := byHost[in.Host]
		if !ok || in.ID == "" {
			continue
		}
		fp := Fingerprint(m.UserData)
		old, had := rec.Nodes[in.Host]
		n := intent.Node{Roles: roleNames(m.Node), Machine: in.ID, Fingerprint: fp,
			Versions: map[string]string{"kubernetes": p.Versions.Kubernetes, "etcd": p.Versions.Etcd}, Applied: stamp}
		switch {
		case in.Created:
			events = append(events, intent.Event{Time: stamp, Action: "create", Host: in.Host, From: old.Fingerprint, To: fp, Outcome: "ok", Detail: "machine " + in.ID})
		case had && old.Machine == in.ID:
			continue // kept: it runs what it booted with
		default:
			events = append(events, intent.Event{Time: stamp, Action: "adopt", Host: in.Host, To: fp, Outcome: "ok", Detail: "machine " + in.ID + " found without a record: taken to run the rendered user-data"})
		}
		rec.Nodes[in.Host] = n
		changed = true
	}
	if len(opts.PlanText) > 0 {
		if h := Fingerprint(opts.PlanText); h != rec.PlanSHA256 {
			rec.PlanSHA256 = h
			if err := intent.SavePlan(opts.StateDir, opts.PlanText); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed || rec.Updated.IsZero() {
		rec.Updated = stamp
		if err := intent.Save(opts.StateDir, rec); err != nil {
			return err
		}
	}
	return intent.Append(opts.StateDir, events...)
}

// forget drops a removed node from the record of intent and the instances record.
func forget(stateDir, host string) error {
	if stateDir == "" {
		return nil
	}
	rec, err := intent.Load(stateDir)
	if err != nil {
		return err
	}
	delete(rec.Nodes, host)
	rec.Updated = now().UTC().Truncate(0)
	return intent.Save(stateDir, rec)
}

// record writes both records after a run or a step of one.
func record(p *plan.Plan, provider string, got []Instance, machines []Machine, opts Options) error {
	return errors.Join(recordInstances(p, provider, got, opts), recordIntent(p, got, machines, opts))
}

// PreviewRollout adds to a preview what the record of intent says: kept machines whose
// user-data changed (replace with --replace, changed without) and the nodes no longer in
// the plan that --prune removes.
func PreviewRollout(changes []Change, p *plan.Plan, machines []Machine, stateDir string, replace, prune bool) ([]Change, error) {
	if stateDir == "" || machines == nil {
		return changes, nil
	}
	rec, err := intent.LoadOrNew(stateDir, p.Name)
	if err != nil {
		return nil, err
	}
	r := PlanRollout(p, machines, rec)
	for _, s := range r.Replace {
		for i := range changes {
			if changes[i].Host == s.Host && changes[i].Action == ActionKeep {
				changes[i].Action, changes[i].Note = ActionReplace, "user-data changed since it booted: drained, removed, created again"
				if !replace {
					changes[i].Action, changes[i].Note = ActionChanged, "user-data changed since it booted: kept (--replace replaces it)"
				}
			}
		}
	}
	for _, s := range r.Remove {
		for i := range changes {
			if changes[i].Host == s.Host && changes[i].Action == ActionLeave && prune {
				changes[i].Action, changes[i].Note = ActionRemove, "no longer in the plan: drained and removed (--prune)"
			}
		}
	}
	return changes, nil
}
