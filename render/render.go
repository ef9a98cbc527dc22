package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// Options change a render.
type Options struct {
	// Format overrides every node's user-data format; "" follows each node's group.
	Format plan.Format
	// Workers bounds how many nodes are rendered at once; 0 means GOMAXPROCS.
	Workers int
	// Inputs are the plan's files (SSH public key, checksums); nil reads them from beside
	// the plan with roles.LoadInputs.
	Inputs *roles.Inputs
	// KeepModels keeps each node's roles.Node in the result (tests, verify); without it
	// the models are dropped once rendered, to bound memory on large plans.
	KeepModels bool
	// ClusterID is the state directory's cluster id (pki.Bundle.ClusterID), recorded in
	// the output's marker so that another cluster of the same name cannot replace it.
	ClusterID string
	// Protect lists what RenderTo's output directory must never be, contain or lie
	// inside: the state directory, the plan and its SSH key (see internal/outdir).
	Protect []outdir.Protected

	// stage, set by RenderTo, receives each node's user-data as soon as it is rendered.
	stage *stage
}

// Result is a rendered plan: every node's user-data, in plan order, and what the render
// records about itself.
type Result struct {
	Nodes    []NodeResult
	Manifest Manifest
	Record   Record
	// Warnings concern the whole render (each once), e.g. downloads without a pinned sum.
	Warnings []string
}

// NodeResult is one node's rendered user-data.
type NodeResult struct {
	Host   string
	Roles  []plan.Role
	Format plan.Format
	// File is the user-data's file name in the output directory (HOST.yaml or HOST.ign).
	File string
	Data []byte
	// Model is the node's model (only with Options.KeepModels).
	Model *roles.Node
	Sizes Sizes
	// SHA256 is the user-data's sha256; ConfigSHA256 the model's (same in both formats).
	SHA256       string
	ConfigSHA256 string
}

// FileName is the user-data file of a node in format f.
func FileName(host string, f plan.Format) string {
	if f == plan.FormatIgnition {
		return host + ".ign"
	}
	return host + ".yaml"
}

// Render builds every node's model and user-data, validates Ignition with Ignition's own
// parser (cloud-init output is checked by the tests with cloud-init's schema), measures the sizes
// and checks them against the provider's budget. It does not write anything and does
// not modify p. The same plan and PKI always give the same bytes.
func Render(p *plan.Plan, s roles.Secrets, opts Options) (*Result, error) {
	if opts.Format != "" && opts.Format != plan.FormatCloudInit && opts.Format != plan.FormatIgnition {
		return nil, fmt.Errorf("%w: %q (use cloud-init or ignition)", ErrFormat, opts.Format)
	}
	var in roles.Inputs
	if opts.Inputs != nil {
		in = *opts.Inputs
	} else {
		var err error
		if in, err = roles.LoadInputs(p); err != nil {
			return nil, err
		}
	}
	c, err := roles.NewCluster(p, s, in)
	if err != nil {
		return nil, err
	}

	res := &Result{Nodes: make([]NodeResult, len(p.Nodes))}
	caches := renderCaches{newFragments(), &factCache{}, &dataURLs{}, &shapes{}}
	records := make([]NodeRecord, len(p.Nodes))
	errs := make([]error, len(p.Nodes))
	warns := make([][]string, len(p.Nodes))
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				res.Nodes[i], records[i], warns[i], errs[i] = renderNode(p, c, p.Nodes[i], opts, caches)
			}
		}()
	}
	for i := range p.Nodes {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	seen := map[string]bool{}
	for _, w := range append(c.Warnings(), flatten(warns)...) {
		if !seen[w] {
			seen[w] = true
			res.Warnings = append(res.Warnings, w)
		}
	}
	res.Manifest = newManifest(p, res.Nodes)
	res.Record = newRecord(p, res.Nodes, records)
	if err := CheckBudget(p, res.Nodes); err != nil {
		return res, err
	}
	return res, nil
}

func flatten(ss [][]string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s...)
	}
	return out
}

// renderCaches hold what many nodes share during one render, each computed once.
type renderCaches struct {
	fragments *fragments
	facts     *factCache
	urls      *dataURLs
	shapes    *shapes
}

// renderNode renders one node; it runs concurrently with the others.
func renderNode(p *plan.Plan, c *roles.Cluster, n *plan.Node, opts Options, rc renderCaches) (NodeResult, NodeRecord, []string, error) {
	model, err := c.Node(n)
	if err != nil {
		return NodeResult{}, NodeRecord{}, nil, err
	}
	format := n.Group.Format
	if opts.Format != "" {
		format = opts.Format
	}
	var data []byte
	switch format {
	case plan.FormatIgnition:
		data, err = rc.shapes.ignition(model, n.Group.OS, rc.urls)
	default:
		format = plan.FormatCloudInit
		data, err = cloudInit(model, p.Network.UpdateHostsFiles, rc.fragments)
	}
	if err != nil {
		return NodeResult{}, NodeRecord{}, nil, err
	}
	sum := sha256.Sum256(data)
	r := NodeResult{
		Host: n.Host, Roles: append([]plan.Role(nil), n.Roles...), Format: format, File: FileName(n.Host, format),
		Data: data, Sizes: measure(data), SHA256: hex.EncodeToString(sum[:]), ConfigSHA256: model.ConfigSHA256,
	}
	if opts.KeepModels {
		r.Model = model
	}
	rec := recordNode(r, model, rc.facts)
	if opts.stage != nil {
		if err := opts.stage.write(r.File, data); err != nil {
			return NodeResult{}, NodeRecord{}, nil, err
		}
		r.Data = nil
	}
	return r, rec, model.Warnings, nil
}
