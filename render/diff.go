package render

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kisgen/kisgen/roles"
)

// Change kinds.
const (
	NodeAdded   = "added"
	NodeRemoved = "removed"
	NodeChanged = "changed"
)

// NodeChange says how one node's user-data would change.
type NodeChange struct {
	Host string `json:"host"`
	Kind string `json:"kind"`
	// Reasons explain the change, most telling first.
	Reasons []string `json:"reasons,omitempty"`
}

func (c NodeChange) String() string {
	switch c.Kind {
	case NodeAdded:
		return c.Host + ": new node (" + strings.Join(c.Reasons, "; ") + ")"
	case NodeRemoved:
		return c.Host + ": no longer in the plan (remove the machine)"
	}
	return c.Host + ": " + strings.Join(c.Reasons, "; ")
}

// DiffOptions add context to a diff.
type DiffOptions struct {
	// Reissued maps a certificate name to why the PKI would reissue it, e.g.
	// "SANs changed: added 10.0.0.9" (from pki.Ensure's changes).
	Reissued map[string]string
}

// maxFacts is how many changed lines an explanation shows per file.
const maxFacts = 3

// Diff compares the record of the last render with a new one and returns the nodes
// whose user-data would change, in the new plan's order, then the removed ones.
func Diff(old, cur *Record, opts DiffOptions) []NodeChange {
	var out []NodeChange
	for _, h := range cur.Hosts {
		n := cur.Nodes[h]
		o, ok := old.Nodes[h]
		if !ok {
			out = append(out, NodeChange{Host: h, Kind: NodeAdded, Reasons: []string{"roles " + strings.Join(n.Roles, ", ") + ", " + n.Format}})
			continue
		}
		if o.SHA256 == n.SHA256 {
			continue
		}
		reasons := explain(old, cur, o, n, opts)
		if len(reasons) == 0 {
			reasons = []string{"user-data encoding changed (same files: a kisgen upgrade)"}
		}
		out = append(out, NodeChange{Host: h, Kind: NodeChanged, Reasons: reasons})
	}
	for _, h := range old.Hosts {
		if _, ok := cur.Nodes[h]; !ok {
			out = append(out, NodeChange{Host: h, Kind: NodeRemoved})
		}
	}
	return out
}

func explain(old, cur *Record, o, n NodeRecord, opts DiffOptions) []string {
	var out []string
	if o.Format != n.Format {
		out = append(out, "format "+o.Format+" → "+n.Format)
	}
	if strings.Join(o.Roles, ",") != strings.Join(n.Roles, ",") {
		out = append(out, "roles "+strings.Join(o.Roles, ", ")+" → "+strings.Join(n.Roles, ", "))
	}
	paths := make([]string, 0, len(n.Entries))
	for p := range n.Entries {
		paths = append(paths, p)
	}
	for p := range o.Entries {
		if _, ok := n.Entries[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	scripts := false
	for _, p := range paths {
		if p == roles.NodeEnvPath {
			continue // it carries the digest of everything else: changes with any of it
		}
		oe, had := o.Entries[p]
		ne, has := n.Entries[p]
		switch {
		case !had:
			out = append(out, label(ne, p)+" added")
		case !has:
			out = append(out, label(oe, p)+" removed")
		case oe.SHA256 == ne.SHA256:
		case strings.HasPrefix(p, roles.BinDir) || p == roles.LibPath:
			scripts = true
		case ne.Secret:
			out = append(out, label(ne, p)+" replaced")
		case strings.HasPrefix(ne.What, "certificate "):
			s := label(ne, p) + " reissued"
			if why := opts.Reissued[strings.TrimPrefix(ne.What, "certificate ")]; why != "" {
				s += " (" + why + ")"
			}
			out = append(out, s)
		default:
			s := label(ne, p) + " changed"
			if d := factDiff(old.Facts[oe.SHA256], cur.Facts[ne.SHA256]); d != "" {
				s += " (" + d + ")"
			}
			out = append(out, s)
		}
	}
	if scripts {
		out = append(out, "kisgen's node scripts changed (a kisgen upgrade)")
	}
	return out
}

func label(e Entry, path string) string {
	if e.What != "" {
		return e.What
	}
	return path
}

// factDiff summarises the lines added and removed between two versions of a file.
func factDiff(old, cur []string) string {
	if old == nil || cur == nil {
		return ""
	}
	inOld := make(map[string]int, len(old))
	for _, l := range old {
		inOld[l]++
	}
	inCur := make(map[string]int, len(cur))
	for _, l := range cur {
		inCur[l]++
	}
	var added, removed []string
	for _, l := range cur {
		if inOld[l] > 0 {
			inOld[l]--
			continue
		}
		added = append(added, "+"+l)
	}
	for _, l := range old {
		if inCur[l] > 0 {
			inCur[l]--
			continue
		}
		removed = append(removed, "-"+l)
	}
	parts := append(clip(removed), clip(added)...)
	return strings.Join(parts, ", ")
}

func clip(lines []string) []string {
	if len(lines) <= maxFacts {
		return lines
	}
	return append(lines[:maxFacts:maxFacts], fmt.Sprintf("%d more", len(lines)-maxFacts))
}
