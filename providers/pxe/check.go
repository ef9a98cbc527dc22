package pxe

import (
	"context"
	"fmt"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Limits implements providers.Provider: the bundle serves a NoCloud seed to cloud-init
// and a config URL to Ignition, over HTTP, whatever their size.
func (x *PXE) Limits(*plan.Plan) providers.Limits {
	return providers.Limits{Formats: []plan.Format{plan.FormatCloudInit, plan.FormatIgnition}}
}

// Validate implements providers.Provider. The plan's own rules ask for every node's MAC
// address and for http_url when its provider is pxe; these are for `kisgen provision pxe`
// with a plan that names another.
func (x *PXE) Validate(p *plan.Plan, opts providers.Options) []report.Finding {
	if p.Provider.Name == Name {
		return nil
	}
	var out []report.Finding
	for _, n := range p.Nodes {
		if n.MAC == "" {
			out = append(out, p.Finding(report.Error, n.Sources[0]+".mac", fmt.Sprintf("PXE boot needs %s's MAC address", n.Host), "add the MAC address of the node's boot interface"))
		}
	}
	if p.Provider.PXE.HTTPURL == "" {
		out = append(out, p.Finding(report.Error, "provider.pxe.http_url", "PXE boot needs http_url", "set the URL `kisgen serve pxe` will be reachable at"))
	}
	return out
}

// Inventory implements providers.Provider: the nodes of the bundle Provision wrote. There
// is no machine to find: a node of the bundle is one that boots from it.
func (x *PXE) Inventory(ctx context.Context, p *plan.Plan, opts providers.Options) ([]providers.Found, error) {
	var rec record
	found, err := providers.LoadRecord(opts.StateDir, Name, &rec)
	if err != nil || !found || rec.Cluster != p.Name {
		return nil, err
	}
	m, err := ReadManifest(rec.Bundle)
	if err != nil {
		return nil, nil // no bundle: nothing boots from it
	}
	var out []providers.Found
	for _, n := range m.Nodes {
		out = append(out, providers.Found{Host: n.Host, ID: n.MAC, State: "in the bundle " + rec.Bundle, Recorded: true})
	}
	return out, nil
}
