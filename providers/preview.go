package providers

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// Found is a machine a provider found for the plan's cluster, by its tags or names.
type Found struct {
	Host  string
	ID    string
	State string
	// Recorded says whether kisgen's record of what it created names the machine: only
	// those are removed by Destroy (unless FromTags), and started again when stopped.
	Recorded bool
	// Stopped says that Provision would start the machine (a recorded one) or report it.
	Stopped bool
	// Resource says what the entry is when it is not a node's machine, e.g. "load
	// balancer" (AWS's for the API); Host is then its name. Preview lists resources after
	// the machines: create when Planned and not found (ID empty), keep when found and
	// Planned, leave when the plan no longer asks for it.
	Resource string
	Planned  bool
	// Note says more about a resource: its settings, its address.
	Note string
}

// Actions a preview lists.
const (
	ActionCreate = "create"
	ActionKeep   = "keep"
	ActionStart  = "start"
	ActionRemove = "remove"
	ActionLeave  = "leave"
)

// Change is what provision (or destroy) would do with one node's machine.
type Change struct {
	Host   string `json:"host"`
	Action string `json:"action"`
	ID     string `json:"id,omitempty"`
	State  string `json:"state,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Preview works out, without creating, changing or removing anything, what Provision
// (destroy false) or Destroy would do with each machine: create the plan's nodes that
// have none, keep (or start) the ones found, and leave machines of hosts no longer in the
// plan; or remove what the record names (everything tagged with opts.FromTags) and leave
// the rest. Changes come in plan order, then the other hosts by name.
func Preview(ctx context.Context, prov Provider, p *plan.Plan, opts Options, destroy bool) ([]Change, error) {
	found, err := prov.Inventory(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	byHost := map[string]Found{}
	var others, resources []Found
	for _, f := range found {
		if f.Resource != "" {
			resources = append(resources, f)
			continue
		}
		if p.Node(f.Host) == nil {
			others = append(others, f)
			continue
		}
		byHost[f.Host] = f
	}
	sort.Slice(others, func(i, j int) bool { return others[i].Host < others[j].Host })
	var out []Change
	for _, n := range p.Nodes {
		f, ok := byHost[n.Host]
		c := Change{Host: n.Host, ID: f.ID, State: f.State}
		switch {
		case destroy && !ok:
			continue
		case destroy:
			c.Action, c.Note = destroyAction(f, opts)
		case !ok:
			c.Action = ActionCreate
		case !f.Recorded:
			c.Action, c.Note = ActionKeep, "not in kisgen's record: left as it is"
			if f.Stopped {
				c.Note = "stopped and not in kisgen's record: provision reports it and leaves it alone"
			}
		case f.Stopped:
			c.Action = ActionStart
		default:
			c.Action = ActionKeep
		}
		out = append(out, c)
	}
	for _, f := range others {
		c := Change{Host: f.Host, ID: f.ID, State: f.State}
		if destroy {
			c.Action, c.Note = destroyAction(f, opts)
		} else {
			c.Action, c.Note = ActionLeave, "not in the plan: provision leaves it (--destroy removes what kisgen created)"
		}
		out = append(out, c)
	}
	for _, f := range resources {
		if c, ok := resourceChange(f, opts, destroy); ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// resourceChange is what provision (or destroy) would do with a resource that is not a
// node's machine; ok is false when there is nothing to do (destroy, and it does not exist).
func resourceChange(f Found, opts Options, destroy bool) (Change, bool) {
	c := Change{Host: f.Resource + " " + f.Host, ID: f.ID, State: f.State}
	var note string
	switch {
	case destroy && f.ID == "":
		return c, false
	case destroy:
		c.Action, note = destroyAction(f, opts)
	case f.ID == "":
		c.Action = ActionCreate
	case !f.Planned:
		c.Action, note = ActionLeave, "the plan asks for none: provision leaves it (--destroy removes what kisgen created)"
	case !f.Recorded:
		c.Action, note = ActionKeep, "not in kisgen's record: provision takes it, it carries the cluster's tag"
	default:
		c.Action = ActionKeep
	}
	c.Note = strings.Join(slices.DeleteFunc([]string{note, f.Note}, func(s string) bool { return s == "" }), "; ")
	return c, true
}

func destroyAction(f Found, opts Options) (string, string) {
	switch {
	case f.Recorded:
		return ActionRemove, ""
	case opts.FromTags:
		return ActionRemove, "not in kisgen's record: removed because of --from-tags"
	default:
		return ActionLeave, "tagged for the cluster but not in kisgen's record: destroy lists it and fails (--from-tags removes it)"
	}
}
