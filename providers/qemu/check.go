package qemu

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Limits implements providers.Provider: kisgen's images read cloud-init (a NoCloud seed),
// which takes the user-data whole.
func (*Provider) Limits(*plan.Plan) providers.Limits {
	return providers.Limits{Formats: []plan.Format{plan.FormatCloudInit}}
}

// imageName is the image a group's VMs boot: the group's machine.image, else
// provider.qemu.image.
func imageName(p *plan.Plan, g *plan.Group) (name, path string) {
	if g != nil && g.Machine.Image != "" {
		return g.Machine.Image, string(g.Role) + ".machine.image"
	}
	if p.Provider.QEMU.Image != "" {
		return p.Provider.QEMU.Image, "provider.qemu.image"
	}
	return plan.DefaultQEMUImage, "provider.qemu.image"
}

// isPath says whether an image is named by its path rather than by an operating system.
func isPath(name string) bool { return filepath.IsAbs(name) || strings.Contains(name, "/") }

// Validate implements providers.Provider. It reports, before anything is created:
//   - a group whose VMs would boot an image of another operating system than its os
//     (the user-data is rendered for the os);
//   - an operating system kisgen has no image of: `kisgen image build` makes only some,
//     and none was baked under that name (the plan's .cache/images, the per-user cache);
//   - VMs that need more memory together than this machine has.
func (q *Provider) Validate(p *plan.Plan, opts providers.Options) []report.Finding {
	var out []report.Finding
	for _, r := range plan.Roles {
		g := p.Groups[r]
		if g == nil || len(p.NodesWith(r)) == 0 || g.Format != plan.FormatCloudInit {
			continue // the format check (providers.Check) reports Ignition groups
		}
		name, at := imageName(p, g)
		if isPath(name) {
			continue // an image of one's own: its os is the plan's word
		}
		if name != g.OS {
			out = append(out, p.Finding(report.Error, string(r)+".os",
				fmt.Sprintf("the %s group's os is %s, but its VMs would boot image %s (%s): the user-data is rendered for %s", r, g.OS, name, at, g.OS),
				fmt.Sprintf("set %s.machine.image (or provider.qemu.image) to %s, or the group's os to %s", r, g.OS, name)))
			continue
		}
		if slices.Contains(image.SupportedOS(), name) {
			continue // `kisgen image build --os NAME` makes it; provision says so if it is missing
		}
		if _, err := findImage(p, name, opts.CacheDir); err != nil {
			out = append(out, p.Finding(report.Error, string(r)+".os",
				fmt.Sprintf("the qemu provider has no image of %s: `kisgen image build` makes %s, and none was baked under that name", g.OS, strings.Join(image.SupportedOS(), " and ")),
				fmt.Sprintf("use os %s, bake an image of %s with the qemu template of `kisgen packer`, or use another provider", image.SupportedOS()[0], g.OS)))
		}
	}
	need := 0
	for _, n := range p.Nodes {
		_, mem, _ := machineSize(p, n)
		need += mem
	}
	if have := q.hostMemoryMB(); have > 0 && need > have {
		out = append(out, p.Finding(report.Error, "provider.qemu",
			fmt.Sprintf("the plan's %d VMs need %d MiB of memory together, and this machine has %d MiB", len(p.Nodes), need, have),
			"give the groups less memory (machine.memory_mb), or fewer nodes, or boot them with another provider"))
	}
	return out
}

func (q *Provider) hostMemoryMB() int {
	if q.HostMemoryMB != nil {
		return q.HostMemoryMB()
	}
	return meminfoMB("MemTotal")
}

// meminfoMB reads one field of /proc/meminfo, in MiB (0 when unknown).
func meminfoMB(field string) int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if _, err := fmt.Sscanf(sc.Text(), field+": %d kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return 0
}

// Inventory implements providers.Provider: each node's VM that runs (by pidfile and
// name), or that has a disk and does not run (provision starts it again), marked recorded
// when the qemu record lists it.
func (q *Provider) Inventory(ctx context.Context, p *plan.Plan, opts providers.Options) ([]providers.Found, error) {
	dir, err := clusterDir(p)
	if err != nil {
		return nil, err
	}
	st := loadState(opts.StateDir)
	recorded := map[string]bool{}
	if st.Cluster == p.Name {
		for _, in := range st.Instances {
			recorded[in.Host] = true
		}
	}
	var out []providers.Found
	for _, host := range clusterHosts(p, dir, st) {
		name := vmName(p, host)
		vmDir := filepath.Join(dir, host)
		if pid := alivePID(filepath.Join(vmDir, PIDFileName), name); pid > 0 {
			out = append(out, providers.Found{Host: host, ID: name, State: fmt.Sprintf("running (pid %d)", pid), Recorded: recorded[host]})
			continue
		}
		if _, err := os.Stat(filepath.Join(vmDir, "disk.qcow2")); err == nil {
			out = append(out, providers.Found{Host: host, ID: name, State: "stopped", Recorded: true, Stopped: true})
		}
	}
	return out, nil
}
