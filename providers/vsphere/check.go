package vsphere

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Limits implements providers.Provider: cloud-init (VMware datasource) and Ignition (its
// VMware provider) both read guestinfo, where kisgen keeps each value under MaxGuestInfo
// once gzip+base64 encoded.
func (v *VSphere) Limits(*plan.Plan) providers.Limits {
	return providers.Limits{
		Formats:     []plan.Format{plan.FormatCloudInit, plan.FormatIgnition},
		MaxUserData: MaxGuestInfo,
		Measure:     func(m providers.Machine) int { return len(encode(m.UserData)) },
		Counted:     "bytes of gzip+base64 in guestinfo",
		Remedy:      "VMware handles at most 64 KiB per guestinfo key: move large files out of the user-data (e.g. to the binaries mirror)",
	}
}

// ManualMACRange is the range VMware accepts for MAC addresses set by hand
// (00:50:56:00:00:00 to 00:50:56:3f:ff:ff); vCenter refuses others, or generates its own.
func manualMAC(mac string) bool {
	hw, err := net.ParseMAC(mac)
	return err == nil && len(hw) == 6 && hw[0] == 0x00 && hw[1] == 0x50 && hw[2] == 0x56 && hw[3] <= 0x3f
}

// Validate implements providers.Provider: every group needs its template, and a node's
// MAC address, given by hand, must be one VMware accepts.
func (v *VSphere) Validate(p *plan.Plan, opts providers.Options) []report.Finding {
	var out []report.Finding
	for _, r := range plan.Roles {
		g := p.Groups[r]
		if g == nil || len(p.NodesWith(r)) == 0 || g.Machine.Image != "" {
			continue
		}
		out = append(out, p.Finding(report.Error, string(r)+".machine.image",
			fmt.Sprintf("the %s group has no template: the vsphere provider clones machine.image", r),
			"set machine.image to the template's inventory path, e.g. /DC1/vm/templates/debian-12"))
	}
	for _, n := range p.Nodes {
		if n.MAC != "" && !manualMAC(n.MAC) {
			out = append(out, p.Finding(report.Error, n.Sources[0]+".mac",
				fmt.Sprintf("%s is outside the range VMware accepts for MAC addresses set by hand", n.MAC),
				"use an address from 00:50:56:00:00:00 to 00:50:56:3f:ff:ff, or leave mac out for vCenter to generate one"))
		}
	}
	return out
}

// clusterVM is a VM of the plan's folder that carries kisgen's markers for the cluster.
type clusterVM struct {
	vm   *object.VirtualMachine
	info vmInfo
	// recorded says the record names the VM (by its instance UUID).
	recorded bool
}

// clusterVMs lists the VMs in the plan's folder marked for the cluster, and the names of
// every VM it looked at (to tell recorded VMs removed by someone else).
func clusterVMs(ctx context.Context, c *vim25.Client, p *plan.Plan, pl place, rec record) ([]clusterVM, map[string]bool, error) {
	vms, err := pl.finder.VirtualMachineList(ctx, path.Join(pl.folder.InventoryPath, "*"))
	var nf *find.NotFoundError
	if err != nil && !errors.As(err, &nf) {
		return nil, nil, fmt.Errorf("list %s: %w", pl.folder.InventoryPath, err)
	}
	var out []clusterVM
	var errs []error
	refs := map[string]bool{}
	for _, vm := range vms {
		refs[vm.Reference().Value] = true
		info, err := readVM(ctx, vm)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if info.extra[KeyCluster] != p.Name {
			continue
		}
		r := rec.VMs[info.extra[KeyHost]]
		out = append(out, clusterVM{vm: vm, info: info, recorded: rec.Cluster == p.Name && r != nil && r.InstanceUUID == info.uuid})
	}
	return out, refs, errors.Join(errs...)
}

// Inventory implements providers.Provider.
func (v *VSphere) Inventory(ctx context.Context, p *plan.Plan, opts providers.Options) ([]providers.Found, error) {
	var rec record
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec); err != nil {
		return nil, err
	}
	c, pl, logout, err := v.session(ctx, p)
	if err != nil {
		return nil, err
	}
	defer logout()
	vms, _, err := clusterVMs(ctx, c, p, pl, rec)
	if err != nil {
		return nil, err
	}
	var out []providers.Found
	for _, x := range vms {
		out = append(out, providers.Found{Host: x.info.extra[KeyHost], ID: x.info.ref.Value + " (" + x.info.name + ")", State: string(x.info.power),
			Recorded: x.recorded, Stopped: x.info.power != types.VirtualMachinePowerStatePoweredOn})
	}
	return out, nil
}
