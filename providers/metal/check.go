package metal

import (
	"context"
	"fmt"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// MaxUserData is the most user-data kisgen gives a device. Metal's API documents no limit;
// the device reads its userdata from the metadata service at every boot, and a node's
// user-data is a few tens of kilobytes: more than this is a plan carrying files that
// belong in the binaries mirror.
const MaxUserData = 64 * 1024

// Limits implements providers.Provider: the operating systems Metal installs read
// cloud-init (Debian, Ubuntu…) or Ignition (Flatcar) from the device's userdata.
func (m *Metal) Limits(*plan.Plan) providers.Limits {
	return providers.Limits{
		Formats:     []plan.Format{plan.FormatCloudInit, plan.FormatIgnition},
		MaxUserData: MaxUserData,
		Remedy:      "move large files out of the user-data (to the binaries mirror), or boot the nodes from the PXE bundle (machine.image: custom_ipxe)",
	}
}

// problem is a setting the plan lacks for Metal, found without the API.
type problem struct{ path, msg, hint string }

func problems(p *plan.Plan) []problem {
	cfg := p.Provider.Packet
	var out []problem
	if cfg.ProjectID == "" {
		out = append(out, problem{"provider.packet.project_id", "the packet provider needs project_id", "name the project the devices belong to"})
	}
	if cfg.Metro == "" {
		out = append(out, problem{"provider.packet.metro", "the packet provider needs metro", "name the metro, e.g. da"})
	}
	for _, r := range plan.Roles {
		g := p.Groups[r]
		if g == nil || len(p.NodesWith(r)) == 0 {
			continue
		}
		if g.Machine.Type == "" {
			out = append(out, problem{string(r) + ".machine.type", fmt.Sprintf("the %s group has no Metal plan", r), "set machine.type to the Metal plan, e.g. c3.small.x86"})
		}
		if g.Machine.Image == "" {
			out = append(out, problem{string(r) + ".machine.image", fmt.Sprintf("the %s group has no operating system", r), "set machine.image to the operating system slug (e.g. debian_12, flatcar_stable) or custom_ipxe"})
		}
		if g.Machine.Image == CustomIPXE && p.Provider.PXE.HTTPURL == "" {
			out = append(out, problem{"provider.pxe.http_url", fmt.Sprintf("%s.machine.image custom_ipxe boots from `kisgen serve pxe`", r), "set provider.pxe.http_url to where the bundle is served"})
		}
	}
	return out
}

// Validate implements providers.Provider.
func (m *Metal) Validate(p *plan.Plan, opts providers.Options) []report.Finding {
	var out []report.Finding
	for _, pr := range problems(p) {
		out = append(out, p.Finding(report.Error, pr.path, pr.msg, pr.hint))
	}
	return out
}

// Inventory implements providers.Provider: the project's devices tagged for the cluster.
func (m *Metal) Inventory(ctx context.Context, p *plan.Plan, opts providers.Options) ([]providers.Found, error) {
	var rec record
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec); err != nil {
		return nil, err
	}
	api, err := m.client(p)
	if err != nil {
		return nil, err
	}
	devs, err := findDevices(ctx, api, p)
	if err != nil {
		return nil, err
	}
	var out []providers.Found
	for host, d := range devs {
		recorded := rec.Cluster == p.Name && (rec.Devices[host] == d.GetId() || rec.Launches[host] != "" && hasTag(d, TagLaunch+"="+rec.Launches[host]))
		out = append(out, providers.Found{Host: host, ID: d.GetId(), State: string(d.GetState()), Recorded: recorded})
	}
	return out, nil
}
