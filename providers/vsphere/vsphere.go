package vsphere

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Name is the provider's name on the command line and in the plan.
const Name = "vsphere"

func init() {
	providers.Register(Name, func() providers.Provider { return &VSphere{} })
}

var _ providers.Provider = (*VSphere)(nil)

// VSphere clones one VM per node. The zero value connects with the GOVC_* environment.
type VSphere struct {
	// Connect returns a logged-in client and a function that logs out. Nil: FromEnv.
	Connect func(ctx context.Context) (*vim25.Client, func(), error)
	// IPTimeout bounds the wait for a clone's guest address (default 10m).
	IPTimeout time.Duration
	// Concurrency is how many nodes are cloned at once (default 4).
	Concurrency int
	// Network, when set, overrides the plan's provider.vsphere prefix_length, gateway and
	// dns: the static addressing around each node's plan address.
	Network Network
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
}

// Name implements providers.Provider.
func (v *VSphere) Name() string { return Name }

func (v *VSphere) getenv(k string) string {
	if v.Getenv != nil {
		return v.Getenv(k)
	}
	return os.Getenv(k)
}

// FromEnv connects as govc does: GOVC_URL (host, host:port or URL; /sdk is added),
// GOVC_USERNAME and GOVC_PASSWORD (or user:password in the URL), GOVC_INSECURE=1 to
// skip certificate checks, GOVC_TLS_CA_CERTS for a CA bundle.
func FromEnv(getenv func(string) string) func(ctx context.Context) (*vim25.Client, func(), error) {
	return func(ctx context.Context) (*vim25.Client, func(), error) {
		raw := getenv("GOVC_URL")
		if raw == "" {
			return nil, nil, fmt.Errorf("%w: set GOVC_URL (and GOVC_USERNAME, GOVC_PASSWORD; GOVC_INSECURE=1 for a self-signed vCenter)", ErrCredentials)
		}
		u, err := soap.ParseURL(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: GOVC_URL: %v", ErrCredentials, err)
		}
		user, pass := getenv("GOVC_USERNAME"), getenv("GOVC_PASSWORD")
		if u.User != nil {
			if user == "" {
				user = u.User.Username()
			}
			if p, ok := u.User.Password(); ok && pass == "" {
				pass = p
			}
		}
		if user == "" {
			return nil, nil, fmt.Errorf("%w: set GOVC_USERNAME and GOVC_PASSWORD", ErrCredentials)
		}
		u.User = url.UserPassword(user, pass)
		insecure, _ := strconv.ParseBool(getenv("GOVC_INSECURE"))
		sc := soap.NewClient(u, insecure)
		if ca := getenv("GOVC_TLS_CA_CERTS"); ca != "" {
			if err := sc.SetRootCAs(ca); err != nil {
				return nil, nil, fmt.Errorf("GOVC_TLS_CA_CERTS: %w", err)
			}
		}
		vc, err := vim25.NewClient(ctx, sc)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to %s: %w", u.Host, err)
		}
		sm := session.NewManager(vc)
		if err := sm.Login(ctx, u.User); err != nil {
			return nil, nil, fmt.Errorf("log in to %s as %s: %w", u.Host, user, err)
		}
		return vc, func() { _ = sm.Logout(context.Background()) }, nil
	}
}

// session connects to vCenter and finds where the plan's clones go; logout ends it.
func (v *VSphere) session(ctx context.Context, p *plan.Plan) (*vim25.Client, place, func(), error) {
	c, logout, err := v.connect(ctx)
	if err != nil {
		return nil, place{}, nil, err
	}
	pl, err := locate(ctx, c, p.Provider.VSphere)
	if err != nil {
		logout()
		return nil, place{}, nil, err
	}
	return c, pl, logout, nil
}

func (v *VSphere) connect(ctx context.Context) (*vim25.Client, func(), error) {
	if v.Connect != nil {
		return v.Connect(ctx)
	}
	return FromEnv(v.getenv)(ctx)
}

// network returns the static addressing of the node network: the plan's, unless the
// provider's Network field sets it (tests, embedding programs).
func (v *VSphere) network(p *plan.Plan) Network {
	n := v.Network
	pv := p.Provider.VSphere
	if n.PrefixLength == 0 {
		n.PrefixLength = pv.PrefixLength
	}
	if n.Gateway == "" {
		n.Gateway = pv.Gateway
	}
	if len(n.DNS) == 0 {
		n.DNS = pv.DNS
	}
	return n
}

// VMName is a node's VM name.
func VMName(cluster, host string) string { return cluster + "-" + host }

// record is what kisgen created, kept in STATE/providers/vsphere.json.
type record struct {
	Cluster string               `json:"cluster"`
	Server  string               `json:"server,omitempty"`
	VMs     map[string]*vmRecord `json:"vms,omitempty"`
}

type vmRecord struct {
	Name         string `json:"name"`
	Ref          string `json:"ref"`
	InstanceUUID string `json:"instanceUuid"`
}

type recorder struct {
	mu       sync.Mutex
	stateDir string
	rec      record
}

func (r *recorder) update(fn func(*record)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.rec)
	return providers.SaveRecord(r.stateDir, Name, &r.rec)
}

// place is where the clones go.
type place struct {
	finder    *find.Finder
	folder    *object.Folder
	pool      *object.ResourcePool
	datastore *object.Datastore
	network   object.NetworkReference
}

func locate(ctx context.Context, c *vim25.Client, cfg plan.VSphereProvider) (place, error) {
	f := find.NewFinder(c, true)
	var pl place
	pl.finder = f
	var dc *object.Datacenter
	var err error
	if cfg.Datacenter != "" {
		dc, err = f.Datacenter(ctx, cfg.Datacenter)
	} else {
		dc, err = f.DefaultDatacenter(ctx)
	}
	if err != nil {
		return pl, fmt.Errorf("%w: provider.vsphere.datacenter: %v", providers.ErrSetting, err)
	}
	f.SetDatacenter(dc)
	if cfg.Folder != "" {
		pl.folder, err = f.Folder(ctx, cfg.Folder)
	} else {
		pl.folder, err = f.DefaultFolder(ctx)
	}
	if err != nil {
		return pl, fmt.Errorf("%w: provider.vsphere.folder: %v", providers.ErrSetting, err)
	}
	if cfg.ResourcePool != "" {
		pl.pool, err = f.ResourcePool(ctx, cfg.ResourcePool)
	} else {
		pl.pool, err = f.DefaultResourcePool(ctx)
	}
	if err != nil {
		return pl, fmt.Errorf("%w: provider.vsphere.resource_pool: %v", providers.ErrSetting, err)
	}
	if cfg.Datastore != "" {
		pl.datastore, err = f.Datastore(ctx, cfg.Datastore)
	} else {
		pl.datastore, err = f.DefaultDatastore(ctx)
	}
	if err != nil {
		return pl, fmt.Errorf("%w: provider.vsphere.datastore: %v", providers.ErrSetting, err)
	}
	if cfg.Network != "" {
		if pl.network, err = f.Network(ctx, cfg.Network); err != nil {
			return pl, fmt.Errorf("%w: provider.vsphere.network: %v", providers.ErrSetting, err)
		}
	}
	return pl, nil
}

// Provision implements providers.Provider.
func (v *VSphere) Provision(ctx context.Context, p *plan.Plan, machines []providers.Machine, opts providers.Options) ([]providers.Instance, error) {
	prog := providers.NewProgress(opts.Progress, Name)
	netw := v.network(p)
	// Everything checkable without vCenter first.
	var errs []error
	userData := map[string][]types.BaseOptionValue{}
	for _, m := range machines {
		g := m.Node.Group
		if g.Machine.Image == "" {
			errs = append(errs, fmt.Errorf("%w: %s.machine.image: set the template's inventory path for the %s group (node %s)", providers.ErrSetting, g.Role, g.Role, m.Node.Host))
		}
		if n := m.Node; n.MAC != "" && !manualMAC(n.MAC) {
			errs = append(errs, fmt.Errorf("%w: %s.mac: %s is outside the range VMware accepts for MAC addresses set by hand (00:50:56:00:00:00 to 00:50:56:3f:ff:ff): use one from it, or leave mac out for vCenter to generate one", providers.ErrSetting, n.Sources[0], n.MAC))
		}
		ud, err := userDataOptions(m, netw)
		if err != nil {
			errs = append(errs, err)
		}
		userData[m.Node.Host] = ud
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if netw.Gateway == "" {
		prog.Printf("no gateway set (provider.vsphere.gateway): nodes get their plan address without a default route")
	}

	c, pl, logout, err := v.session(ctx, p)
	if err != nil {
		return nil, err
	}
	defer logout()
	rec := &recorder{stateDir: opts.StateDir}
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec.rec); err != nil {
		return nil, err
	}
	if rec.rec.Cluster != "" && rec.rec.Cluster != p.Name {
		return nil, fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.rec.Cluster, p.Name)
	}
	rec.rec.Cluster, rec.rec.Server = p.Name, c.URL().Host
	if rec.rec.VMs == nil {
		rec.rec.VMs = map[string]*vmRecord{}
	}

	limit := v.Concurrency
	if limit <= 0 {
		limit = 4
	}
	var mu sync.Mutex
	results := map[string]providers.Instance{}
	err = providers.ForEach(ctx, machines, limit, func(ctx context.Context, m providers.Machine) error {
		in, err := v.provisionNode(ctx, c, p, pl, m, userData[m.Node.Host], netw, rec, prog)
		if in.ID != "" {
			mu.Lock()
			results[m.Node.Host] = in
			mu.Unlock()
		}
		return err
	})
	var out []providers.Instance
	for _, m := range machines {
		if in, ok := results[m.Node.Host]; ok {
			out = append(out, in)
		}
	}
	return out, err
}

// vmInfo is what kisgen reads about a VM.
type vmInfo struct {
	ref    types.ManagedObjectReference
	name   string
	uuid   string
	power  types.VirtualMachinePowerState
	extra  map[string]string
	ip     string
	device object.VirtualDeviceList
}

func readVM(ctx context.Context, vm *object.VirtualMachine) (vmInfo, error) {
	var o mo.VirtualMachine
	if err := vm.Properties(ctx, vm.Reference(), []string{"name", "config", "runtime.powerState", "guest.ipAddress"}, &o); err != nil {
		return vmInfo{}, err
	}
	info := vmInfo{ref: vm.Reference(), name: o.Name, power: o.Runtime.PowerState}
	if o.Config != nil {
		info.uuid = o.Config.InstanceUuid
		info.extra = extraConfig(o.Config.ExtraConfig)
		info.device = object.VirtualDeviceList(o.Config.Hardware.Device)
	}
	if o.Guest != nil {
		info.ip = o.Guest.IpAddress
	}
	return info, nil
}

func (v *VSphere) provisionNode(ctx context.Context, c *vim25.Client, p *plan.Plan, pl place, m providers.Machine, userData []types.BaseOptionValue, netw Network, rec *recorder, prog *providers.Progress) (providers.Instance, error) {
	n := m.Node
	name := VMName(p.Name, n.Host)
	vmPath := path.Join(pl.folder.InventoryPath, name)
	created := false
	vm, err := pl.finder.VirtualMachine(ctx, vmPath)
	var nf *find.NotFoundError
	switch {
	case errors.As(err, &nf):
		// The clone's instance UUID is chosen and recorded before cloning, so a clone
		// finished by a run that then crashed is recognised as kisgen's by the next one.
		uuid := newUUID()
		if err := rec.update(func(r *record) { r.VMs[n.Host] = &vmRecord{Name: name, InstanceUUID: uuid} }); err != nil {
			return providers.Instance{}, err
		}
		vm, err = v.clone(ctx, c, p, pl, m, name, uuid, userData)
		if err != nil {
			return providers.Instance{}, err
		}
		created = true
	case err != nil:
		return providers.Instance{}, fmt.Errorf("look up %s: %w", vmPath, err)
	}
	info, err := readVM(ctx, vm)
	if err != nil {
		return providers.Instance{}, err
	}
	if info.extra[KeyCluster] != p.Name || info.extra[KeyHost] != n.Host {
		return providers.Instance{}, fmt.Errorf("%w: %s (its %s is %q): rename it or choose another folder", ErrNotKisgens, vmPath, KeyCluster, info.extra[KeyCluster])
	}
	recorded := false
	if err := rec.update(func(r *record) {
		if prev := r.VMs[n.Host]; created || (prev != nil && prev.InstanceUUID == info.uuid) {
			r.VMs[n.Host] = &vmRecord{Name: name, Ref: info.ref.Value, InstanceUUID: info.uuid}
			recorded = true
		}
	}); err != nil {
		return providers.Instance{}, err
	}
	switch {
	case created:
		prog.Node(n.Host, "cloned %s from %s (%s)", name, n.Group.Machine.Image, info.ref.Value)
	case recorded:
		prog.Node(n.Host, "found %s (%s, %s)", name, info.ref.Value, info.power)
	default:
		prog.Node(n.Host, "found %s (%s, %s), marked for this cluster but not in kisgen's record: --destroy will leave it", name, info.ref.Value, info.power)
	}
	// Until VMware Tools reports an address, verify is pointed at the plan's ip: the guestinfo
	// gives the VM exactly that address.
	inst := providers.Instance{Host: n.Host, ID: info.ref.Value, Created: created, State: string(info.power), SSHAddr: providers.SSHAddress(p, n)}

	if info.power != types.VirtualMachinePowerStatePoweredOn {
		// Before the first power-on: the metadata names the NIC by the MAC vCenter gave it,
		// and a clone found powered off gets its guestinfo again.
		mac := ""
		for _, d := range info.device.SelectByType((*types.VirtualEthernetCard)(nil)) {
			mac = d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress
			break
		}
		if mac == "" {
			return inst, fmt.Errorf("%s has no network card with a MAC address: give the template one", name)
		}
		md, err := metadataOptions(m, mac, netw, info.uuid)
		if err != nil {
			return inst, err
		}
		spec := types.VirtualMachineConfigSpec{ExtraConfig: append(md, userData...)}
		if err := waitTask(ctx)(vm.Reconfigure(ctx, spec)); err != nil {
			return inst, fmt.Errorf("write guestinfo to %s: %w", name, err)
		}
		if err := waitTask(ctx)(vm.PowerOn(ctx)); err != nil {
			return inst, fmt.Errorf("power on %s: %w", name, err)
		}
		prog.Node(n.Host, "powered on %s (address %s, NIC %s)", name, n.IP, mac)
	}
	inst.State = string(types.VirtualMachinePowerStatePoweredOn)
	timeout := v.IPTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ip, err := vm.WaitForIP(wctx, true)
	if err != nil {
		return inst, fmt.Errorf("%s reported no IPv4 address within %s (is VMware Tools in the template?): %w", name, timeout, err)
	}
	inst.PrivateIP = ip
	inst.SSHAddr = providers.SSHAddress(p, n, ip)
	if m.Format == plan.FormatIgnition && info.extra[KeyIgnition] != "" {
		// Ignition ran in the initrd, before the guest could report an address; its config
		// (the node's private keys) stays readable in guestinfo unless it is removed, and
		// Ignition has no cleanup of its own (cloud-init clears its user-data itself:
		// Metadata.CleanupGuestinfo). An empty value removes an ExtraConfig key.
		if err := waitTask(ctx)(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: options(map[string]string{
			KeyIgnition: "", KeyIgnition + ".encoding": "",
		})})); err != nil {
			return inst, fmt.Errorf("remove the Ignition config from %s's guestinfo: %w", name, err)
		}
		prog.Node(n.Host, "removed the Ignition config from %s's guestinfo", name)
	}
	if ip != n.IP.String() && ip != n.InternalIP.String() {
		prog.Node(n.Host, "%s reports %s, not its plan address %s", name, ip, n.IP)
	} else {
		prog.Node(n.Host, "%s is up at %s", name, ip)
	}
	return inst, nil
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// waitTask waits for the task a call started: waitTask(ctx)(vm.PowerOn(ctx)).
func waitTask(ctx context.Context) func(*object.Task, error) error {
	return func(t *object.Task, err error) error {
		if err != nil {
			return err
		}
		return t.Wait(ctx)
	}
}

// clone makes the node's VM from its group's template, not yet powered on.
func (v *VSphere) clone(ctx context.Context, c *vim25.Client, p *plan.Plan, pl place, m providers.Machine, name, uuid string, userData []types.BaseOptionValue) (*object.VirtualMachine, error) {
	n := m.Node
	mach := p.Machine(n)
	tmpl, err := pl.finder.VirtualMachine(ctx, mach.Image)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.machine.image: template %q: %v", providers.ErrSetting, n.Group.Role, mach.Image, err)
	}
	devices, err := tmpl.Device(ctx)
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", mach.Image, err)
	}
	poolRef, dsRef := pl.pool.Reference(), pl.datastore.Reference()
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = string(r)
	}
	config := &types.VirtualMachineConfigSpec{
		InstanceUuid: uuid,
		Annotation:   fmt.Sprintf("kisgen: node %s (%s) of cluster %s. Remove with `kisgen provision vsphere --destroy`.", n.Host, strings.Join(roles, ", "), p.Name),
		ExtraConfig: append(options(map[string]string{
			KeyCluster: p.Name,
			KeyHost:    n.Host,
		}), userData...),
	}
	if mach.CPUs > 0 {
		config.NumCPUs = int32(mach.CPUs)
	}
	if mach.MemoryMB > 0 {
		config.MemoryMB = int64(mach.MemoryMB)
	}
	if mach.DiskGB > 0 {
		if disks := devices.SelectByType((*types.VirtualDisk)(nil)); len(disks) > 0 {
			disk := disks[0].(*types.VirtualDisk)
			want := int64(mach.DiskGB) * 1024 * 1024
			if disk.CapacityInKB < want {
				disk.CapacityInKB, disk.CapacityInBytes = want, want*1024
				config.DeviceChange = append(config.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: disk})
			}
		}
	}
	reloc := types.VirtualMachineRelocateSpec{Pool: &poolRef, Datastore: &dsRef}
	// The first NIC gets a MAC of its own: the node's plan MAC when it has one (VMware
	// accepts manual MACs in 00:50:56:00:00:00-00:50:56:3f:ff:ff), else a generated one
	// (the template's is not reused), and the plan's network when one is named.
	if nics := devices.SelectByType((*types.VirtualEthernetCard)(nil)); len(nics) > 0 {
		card := nics[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		card.AddressType, card.MacAddress = string(types.VirtualEthernetCardMacTypeGenerated), ""
		if n.MAC != "" {
			card.AddressType, card.MacAddress = string(types.VirtualEthernetCardMacTypeManual), n.MAC
		}
		if pl.network != nil {
			backing, err := pl.network.EthernetCardBackingInfo(ctx)
			if err != nil {
				return nil, fmt.Errorf("network %s: %w", p.Provider.VSphere.Network, err)
			}
			card.Backing = backing
		}
		reloc.DeviceChange = append(reloc.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationEdit, Device: nics[0]})
	} else if pl.network != nil {
		return nil, fmt.Errorf("template %s has no network card to attach to %s", mach.Image, p.Provider.VSphere.Network)
	}
	task, err := tmpl.Clone(ctx, pl.folder, name, types.VirtualMachineCloneSpec{Location: reloc, Config: config, PowerOn: false})
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", name, err)
	}
	res, err := task.WaitForResult(ctx)
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", name, err)
	}
	ref, ok := res.Result.(types.ManagedObjectReference)
	if !ok {
		return nil, fmt.Errorf("clone %s: unexpected result %T", name, res.Result)
	}
	vm := object.NewVirtualMachine(c, ref)
	vm.InventoryPath = path.Join(pl.folder.InventoryPath, name)
	return vm, nil
}

// Destroy implements providers.Provider: VMs in the plan's folder that carry kisgen's
// markers for this cluster are powered off and deleted when the record lists them too, or
// all of them with opts.FromTags (a state directory that is gone).
func (v *VSphere) Destroy(ctx context.Context, p *plan.Plan, opts providers.Options) error {
	prog := providers.NewProgress(opts.Progress, Name)
	rec := &recorder{stateDir: opts.StateDir}
	found, err := providers.LoadRecord(opts.StateDir, Name, &rec.rec)
	if err != nil {
		return err
	}
	if found && rec.rec.Cluster != p.Name {
		return fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.rec.Cluster, p.Name)
	}
	c, pl, logout, err := v.session(ctx, p)
	if err != nil {
		return err
	}
	defer logout()
	vms, refs, err := clusterVMs(ctx, c, p, pl, rec.rec)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var strangers []string
	for _, x := range vms {
		vm, info := x.vm, x.info
		host := info.extra[KeyHost]
		if !x.recorded && !opts.FromTags {
			strangers = append(strangers, fmt.Sprintf("%s (%s)", info.name, info.ref.Value))
			continue
		}
		if info.power == types.VirtualMachinePowerStatePoweredOn {
			if err := waitTask(ctx)(vm.PowerOff(ctx)); err != nil {
				errs = append(errs, fmt.Errorf("power off %s: %w", info.name, err))
				continue
			}
		}
		if err := waitTask(ctx)(vm.Destroy(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", info.name, err))
			continue
		}
		prog.Node(host, "deleted %s (%s)", info.name, info.ref.Value)
		if err := rec.update(func(r *record) {
			if r.VMs != nil {
				delete(r.VMs, host)
			}
		}); err != nil {
			return err
		}
	}
	// Recorded VMs no longer there were removed by someone else.
	var gone []string
	for host, r := range rec.rec.VMs {
		if !refs[r.Ref] {
			gone = append(gone, host)
		}
	}
	sort.Strings(gone)
	for _, host := range gone {
		if err := rec.update(func(r *record) { delete(r.VMs, host) }); err != nil {
			return err
		}
	}
	if len(strangers) > 0 {
		sort.Strings(strangers)
		errs = append(errs, fmt.Errorf("%w: %s (kisgen removes only what its record at %s lists)", ErrNotRecorded, strings.Join(strangers, ", "), providers.RecordPath(opts.StateDir, Name)))
	}
	if found && len(rec.rec.VMs) == 0 {
		if err := os.Remove(providers.RecordPath(opts.StateDir, Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
