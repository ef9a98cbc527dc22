package pxe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Name is the provider's name on the command line and in the plan.
const Name = "pxe"

func init() {
	providers.Register(Name, func() providers.Provider { return &PXE{} })
}

var _ providers.Provider = (*PXE)(nil)

// PXE is the provider for bare metal that boots over the network. There is no API to
// create machines with: Provision writes the bundle into the state directory (with the
// kernel, initrd and root file system `kisgen image build` made for each of the nodes'
// operating systems) and reports every node as waiting for its network boot; once powered
// on while `kisgen serve pxe` serves the bundle, each machine installs its image to its
// disk, reboots from the disk and installs the cluster's software. For more control (the
// disk, mirror, archive) use `kisgen bundle pxe`.
type PXE struct {
	// Options are the bundle options; Out, Kernel and Initrd default from the state
	// directory and the image cache.
	Options Options
}

// Name implements providers.Provider.
func (x *PXE) Name() string { return Name }

type record struct {
	Cluster string `json:"cluster"`
	Bundle  string `json:"bundle"`
}

// BundleDir is where Provision writes the bundle.
func BundleDir(stateDir string) string { return filepath.Join(stateDir, "pxe-bundle") }

// Provision implements providers.Provider.
func (x *PXE) Provision(ctx context.Context, p *plan.Plan, machines []providers.Machine, opts providers.Options) ([]providers.Instance, error) {
	prog := providers.NewProgress(opts.Progress, Name)
	o := x.Options
	if o.Out == "" {
		o.Out = BundleDir(opts.StateDir)
	}
	if o.Images == nil {
		images, err := ImagesFor(machines, opts.CacheDir)
		if err != nil {
			return nil, err
		}
		o.Images = images
	}
	if o.Root == "" && o.KernelArgs == "" {
		o.Root, o.KernelArgs = DefaultRoot, DefaultKernelArgs
	}
	o.Progress = opts.Progress
	var rec record
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec); err != nil {
		return nil, err
	}
	res, err := Build(p, machines, o)
	if err != nil {
		return nil, err
	}
	if err := providers.SaveRecord(opts.StateDir, Name, &record{Cluster: p.Name, Bundle: res.Dir}); err != nil {
		return nil, err
	}
	prog.Printf("bundle written to %s: serve it with `kisgen serve pxe %s` at %s, then power the machines on", res.Dir, res.Dir, res.Manifest.HTTPURL)
	out := make([]providers.Instance, 0, len(res.Manifest.Nodes))
	for _, n := range res.Manifest.Nodes {
		// The DHCP reservation gives each machine its plan ip: that is where its sshd will be.
		in := providers.Instance{Host: n.Host, ID: n.MAC, State: "waits for network boot", PrivateIP: n.IP, Created: rec.Bundle == ""}
		if node := p.Node(n.Host); node != nil {
			in.SSHAddr = providers.SSHAddress(p, node)
		}
		out = append(out, in)
	}
	return out, nil
}

// Destroy implements providers.Provider: it removes the bundle Provision wrote. The
// machines themselves are not kisgen's to switch off.
func (x *PXE) Destroy(ctx context.Context, p *plan.Plan, opts providers.Options) error {
	prog := providers.NewProgress(opts.Progress, Name)
	var rec record
	found, err := providers.LoadRecord(opts.StateDir, Name, &rec)
	if err != nil || !found {
		return err
	}
	if rec.Cluster != p.Name {
		return fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.Cluster, p.Name)
	}
	if _, err := ReadManifest(rec.Bundle); err == nil {
		if err := os.RemoveAll(rec.Bundle); err != nil {
			return err
		}
		prog.Printf("removed %s (power the machines off yourself)", rec.Bundle)
	}
	if err := os.Remove(providers.RecordPath(opts.StateDir, Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
