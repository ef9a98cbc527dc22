package metal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/equinix/equinix-sdk-go/services/metalv1"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Name is the provider's name on the command line and in the plan.
const Name = "packet"

// Tags kisgen puts on the devices it creates ("key=value" strings, as Metal tags are).
const (
	TagCluster = "kisgen.io/cluster"
	TagHost    = "kisgen.io/host"
	TagRoles   = "kisgen.io/roles"
)

// CustomIPXE is the operating system slug that boots a device from an iPXE script.
const CustomIPXE = "custom_ipxe"

func init() {
	providers.Register(Name, func() providers.Provider { return &Metal{} })
}

var _ providers.Provider = (*Metal)(nil)

// Metal creates one device per node.
type Metal struct {
	// HTTPClient is used for the API (default http.DefaultClient).
	HTTPClient *http.Client
	// PollInterval is the pause between state checks (default 10s); WaitTimeout bounds
	// the wait for a device to become active (default 30m: bare metal takes a while).
	PollInterval time.Duration
	WaitTimeout  time.Duration
	// Concurrency is how many devices are created at once (default 4).
	Concurrency int
	// MaxAttempts bounds the attempts of a request the API rate-limits (429) or fails with
	// a 502, 503 or 504 when it is safe to repeat (default 8); MaxBackoff caps the pause
	// between them (default 60s).
	MaxAttempts int
	MaxBackoff  time.Duration
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
}

// Name implements providers.Provider.
func (m *Metal) Name() string { return Name }

func (m *Metal) getenv(k string) string {
	if m.Getenv != nil {
		return m.Getenv(k)
	}
	return os.Getenv(k)
}

func (m *Metal) client(p *plan.Plan) (*metalv1.APIClient, error) {
	token := m.getenv("METAL_AUTH_TOKEN")
	if token == "" {
		token = m.getenv("PACKET_AUTH_TOKEN")
	}
	if token == "" {
		return nil, fmt.Errorf("%w: set METAL_AUTH_TOKEN to an API token of the project's organisation", ErrNoToken)
	}
	cfg := metalv1.NewConfiguration()
	cfg.Servers = metalv1.ServerConfigurations{{URL: strings.TrimRight(p.Provider.Packet.APIURL, "/")}}
	cfg.AddDefaultHeader("X-Auth-Token", token)
	cfg.UserAgent = "kisgen"
	hc := http.DefaultClient
	if m.HTTPClient != nil {
		hc = m.HTTPClient
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	rt := retryTransport{next: next, maxAttempts: m.MaxAttempts, maxBackoff: m.MaxBackoff}
	if rt.maxAttempts <= 0 {
		rt.maxAttempts = 8
	}
	if rt.maxBackoff <= 0 {
		rt.maxBackoff = 60 * time.Second
	}
	retrying := *hc // a copy: the caller's client is left as it is
	retrying.Transport = rt
	cfg.HTTPClient = &retrying
	return metalv1.NewAPIClient(cfg), nil
}

func tagsFor(p *plan.Plan, n *plan.Node) []string {
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = string(r)
	}
	return []string{TagCluster + "=" + p.Name, TagHost + "=" + n.Host, TagRoles + "=" + strings.Join(roles, "+")}
}

// TagLaunch carries a nonce recorded before CreateDevice: a device created by a run that
// crashed before recording its id is recognised by it.
const TagLaunch = "kisgen.io/launch"

// record is what kisgen created, kept in STATE/providers/packet.json.
type record struct {
	Cluster string            `json:"cluster"`
	Project string            `json:"project"`
	Devices map[string]string `json:"devices,omitempty"` // host -> device id
	// Launches are the nonces of creations not yet recorded by id: host -> nonce.
	Launches map[string]string `json:"launches,omitempty"`
}

func hasTag(d metalv1.Device, tag string) bool {
	for _, t := range d.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

func newNonce() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
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

// apiErr turns an API error into its HTTP status and the API's own messages.
func apiErr(err error, resp *http.Response) error {
	var oe *metalv1.GenericOpenAPIError
	if errors.As(err, &oe) {
		var body struct {
			Errors []string `json:"errors"`
			Error  string   `json:"error"`
		}
		msg := oe.Error()
		if json.Unmarshal(oe.Body(), &body) == nil {
			if len(body.Errors) > 0 {
				msg = strings.Join(body.Errors, "; ")
			} else if body.Error != "" {
				msg = body.Error
			}
		}
		if resp != nil {
			return fmt.Errorf("%s: %s", resp.Status, msg)
		}
		return errors.New(msg)
	}
	return err
}

// findDevices returns the cluster's devices by host tag, through every page.
func findDevices(ctx context.Context, api *metalv1.APIClient, p *plan.Plan) (map[string]metalv1.Device, error) {
	list, err := api.DevicesApi.FindProjectDevices(ctx, p.Provider.Packet.ProjectID).Tag(TagCluster + "=" + p.Name).PerPage(100).ExecuteWithPagination()
	if err != nil {
		return nil, fmt.Errorf("list the devices of project %s: %w", p.Provider.Packet.ProjectID, apiErr(err, nil))
	}
	out := map[string]metalv1.Device{}
	var errs []error
	for _, d := range list.Devices {
		if d.GetState() == metalv1.DEVICESTATE_DELETED || d.GetState() == metalv1.DEVICESTATE_DEPROVISIONING {
			continue
		}
		host := ""
		for _, t := range d.Tags {
			if v, ok := strings.CutPrefix(t, TagHost+"="); ok {
				host = v
			}
		}
		if host == "" || host != d.GetHostname() {
			continue // tagged for the cluster but not a node kisgen named
		}
		if prev, dup := out[host]; dup {
			errs = append(errs, fmt.Errorf("node %s: two devices carry its tags: %s and %s (delete the one you do not want)", host, prev.GetId(), d.GetId()))
			continue
		}
		out[host] = d
	}
	return out, errors.Join(errs...)
}

// Provision implements providers.Provider.
func (m *Metal) Provision(ctx context.Context, p *plan.Plan, machines []providers.Machine, opts providers.Options) ([]providers.Instance, error) {
	prog := providers.NewProgress(opts.Progress, Name)
	cfg := p.Provider.Packet
	var errs []error
	for _, pr := range problems(p) {
		errs = append(errs, fmt.Errorf("%w: %s: %s: %s", providers.ErrSetting, pr.path, pr.msg, pr.hint))
	}
	for _, mc := range machines {
		if len(mc.UserData) > MaxUserData {
			errs = append(errs, fmt.Errorf("%w: node %s: its user-data is %d bytes and kisgen gives a device at most %d: move large files out of the user-data (to the binaries mirror)",
				providers.ErrUserDataTooLarge, mc.Node.Host, len(mc.UserData), MaxUserData))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	api, err := m.client(p)
	if err != nil {
		return nil, err
	}
	rec := &recorder{stateDir: opts.StateDir}
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec.rec); err != nil {
		return nil, err
	}
	if rec.rec.Cluster != "" && rec.rec.Cluster != p.Name {
		return nil, fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.rec.Cluster, p.Name)
	}
	rec.rec.Cluster, rec.rec.Project = p.Name, cfg.ProjectID
	if rec.rec.Devices == nil {
		rec.rec.Devices = map[string]string{}
	}
	if rec.rec.Launches == nil {
		rec.rec.Launches = map[string]string{}
	}
	existing, err := findDevices(ctx, api, p)
	if err != nil {
		return nil, err
	}
	// The certificates name the plan's addresses: before any device is created, every new
	// node's addresses must be ones the project reserved, which the device is then given.
	reserved, err := reservations(ctx, api, p)
	if err != nil {
		return nil, err
	}
	addrs := map[string][]metalv1.IPAddress{}
	var addrErrs []error
	for _, mc := range machines {
		if _, found := existing[mc.Node.Host]; found {
			continue
		}
		ips, err := deviceAddresses(mc.Node, reserved)
		if err != nil {
			addrErrs = append(addrErrs, err)
			continue
		}
		addrs[mc.Node.Host] = ips
	}
	if err := errors.Join(addrErrs...); err != nil {
		return nil, err
	}
	limit := m.Concurrency
	if limit <= 0 {
		limit = 4
	}
	var mu sync.Mutex
	results := map[string]providers.Instance{}
	err = providers.ForEach(ctx, machines, limit, func(ctx context.Context, mc providers.Machine) error {
		in, err := m.provisionNode(ctx, api, p, mc, existing, addrs[mc.Node.Host], rec, prog)
		if in.ID != "" {
			mu.Lock()
			results[mc.Node.Host] = in
			mu.Unlock()
		}
		return err
	})
	var out []providers.Instance
	for _, mc := range machines {
		if in, ok := results[mc.Node.Host]; ok {
			out = append(out, in)
		}
	}
	return out, err
}

// IPXEScriptURL is where a custom_ipxe device fetches its iPXE script: the per-host
// script of kisgen's PXE bundle.
func IPXEScriptURL(p *plan.Plan, host string) string {
	return strings.TrimRight(p.Provider.PXE.HTTPURL, "/") + "/ipxe/host/" + host + ".ipxe"
}

func (m *Metal) provisionNode(ctx context.Context, api *metalv1.APIClient, p *plan.Plan, mc providers.Machine, existing map[string]metalv1.Device, ips []metalv1.IPAddress, rec *recorder, prog *providers.Progress) (providers.Instance, error) {
	n := mc.Node
	cfg := p.Provider.Packet
	d, found := existing[n.Host]
	created := false
	if found {
		note := ""
		if err := rec.update(func(r *record) {
			if nonce := r.Launches[n.Host]; nonce != "" && hasTag(d, TagLaunch+"="+nonce) {
				r.Devices[n.Host] = d.GetId() // created by a run that stopped before recording it
				delete(r.Launches, n.Host)
			}
			if r.Devices[n.Host] != d.GetId() {
				note = ", tagged for this cluster but not in kisgen's record: left as it is"
			}
		}); err != nil {
			return providers.Instance{}, err
		}
		prog.Node(n.Host, "found device %s (%s)%s", d.GetId(), d.GetState(), note)
	} else {
		nonce := newNonce()
		if err := rec.update(func(r *record) { r.Launches[n.Host] = nonce }); err != nil {
			return providers.Instance{}, err
		}
		mach := n.Group.Machine
		in := metalv1.NewDeviceCreateInMetroInput(cfg.Metro, mach.Image, mach.Type)
		in.SetHostname(n.Host)
		in.SetDescription(fmt.Sprintf("kisgen: node %s of cluster %s", n.Host, p.Name))
		in.SetTags(append(tagsFor(p, n), TagLaunch+"="+nonce))
		in.SetUserdata(string(mc.UserData))
		in.SetBillingCycle(metalv1.DEVICECREATEINPUTBILLINGCYCLE_HOURLY)
		in.SetIpAddresses(ips)
		if mach.Image == CustomIPXE {
			in.SetIpxeScriptUrl(IPXEScriptURL(p, n.Host))
			in.SetAlwaysPxe(true)
		}
		dev, resp, err := api.DevicesApi.CreateDevice(ctx, cfg.ProjectID).CreateDeviceRequest(metalv1.DeviceCreateInMetroInputAsCreateDeviceRequest(in)).Execute()
		if err != nil {
			return providers.Instance{}, fmt.Errorf("create device: %w", apiErr(err, resp))
		}
		d, created = *dev, true
		if err := rec.update(func(r *record) {
			r.Devices[n.Host] = d.GetId()
			delete(r.Launches, n.Host)
		}); err != nil {
			return providers.Instance{Host: n.Host, ID: d.GetId(), Created: true}, err
		}
		prog.Node(n.Host, "created device %s (%s, %s in %s)", d.GetId(), mach.Type, mach.Image, cfg.Metro)
	}
	d, err := m.waitActive(ctx, api, d)
	inst := instanceOf(p, n, d, created)
	if err != nil {
		return inst, err
	}
	prog.Node(n.Host, "device %s is active (public %s, private %s)", d.GetId(), inst.PublicIP, inst.PrivateIP)
	if missing := missingAddresses(n, d); len(missing) > 0 {
		if created {
			return inst, fmt.Errorf("%w: device %s was created with the reservations of %s but holds %s/%s: the certificates name the plan's addresses", ErrAddress, d.GetId(), strings.Join(missing, " and "), inst.PublicIP, inst.PrivateIP)
		}
		prog.Node(n.Host, "warning: device %s holds %s/%s, not the plan's %s; the certificates name the plan's addresses: reserve them, delete the device and provision again",
			d.GetId(), inst.PublicIP, inst.PrivateIP, strings.Join(missing, " and "))
	}
	return inst, nil
}

// reservation is an address the project reserved as a /32: the one kind of reservation
// that gives a device exactly that address.
type reservation struct {
	id     string
	public bool
}

// reservations are the project's /32 IPv4 reservations, by address.
func reservations(ctx context.Context, api *metalv1.APIClient, p *plan.Plan) (map[netip.Addr]reservation, error) {
	list, resp, err := api.IPAddressesApi.FindIPReservations(ctx, p.Provider.Packet.ProjectID).
		Types([]metalv1.FindIPReservationsTypesParameterInner{metalv1.FINDIPRESERVATIONSTYPESPARAMETERINNER_PUBLIC_IPV4, metalv1.FINDIPRESERVATIONSTYPESPARAMETERINNER_PRIVATE_IPV4}).Execute()
	if err != nil {
		return nil, fmt.Errorf("list the IP reservations of project %s: %w", p.Provider.Packet.ProjectID, apiErr(err, resp))
	}
	out := map[netip.Addr]reservation{}
	for _, in := range list.IpAddresses {
		r := in.IPReservation
		if r == nil || r.GetAddressFamily() != 4 || r.GetCidr() != 32 {
			continue
		}
		if a, err := netip.ParseAddr(r.GetNetwork()); err == nil {
			out[a] = reservation{id: r.GetId(), public: r.GetPublic()}
		}
	}
	return out, nil
}

// deviceAddresses are the ip_addresses of a node's device: the reservations of its ip
// and of its internal ip when different, and a private address of Metal's when neither
// is private (Metal gives every device one).
func deviceAddresses(n *plan.Node, reserved map[netip.Addr]reservation) ([]metalv1.IPAddress, error) {
	want := []netip.Addr{n.IP}
	if n.InternalIP.IsValid() && n.InternalIP != n.IP {
		want = append(want, n.InternalIP)
	}
	var out []metalv1.IPAddress
	private := false
	for _, a := range want {
		r, ok := reserved[a]
		if !ok {
			return nil, fmt.Errorf("%w: node %s: %s is not an address the project reserved: Metal gives a device its own addresses, and the certificates name the plan's; reserve it as a /32 (the Metal CLI's ip request, type public_ipv4, quantity 1), put that address in the plan and render again",
				ErrAddress, n.Host, a)
		}
		ip := metalv1.NewIPAddress()
		ip.SetAddressFamily(4)
		ip.SetPublic(r.public)
		ip.SetCidr(32)
		ip.SetIpReservations([]string{r.id})
		out = append(out, *ip)
		private = private || !r.public
	}
	if !private {
		ip := metalv1.NewIPAddress()
		ip.SetAddressFamily(4)
		ip.SetPublic(false)
		out = append(out, *ip)
	}
	return out, nil
}

// missingAddresses are the node's plan addresses the device does not hold.
func missingAddresses(n *plan.Node, d metalv1.Device) []string {
	held := map[string]bool{}
	for _, ip := range d.IpAddresses {
		held[ip.GetAddress()] = true
	}
	var out []string
	for _, a := range []netip.Addr{n.IP, n.InternalIP} {
		if a.IsValid() && !held[a.String()] && !slices.Contains(out, a.String()) {
			out = append(out, a.String())
		}
	}
	return out
}

// instanceOf is what Provision returns for a node's device; verify reaches it at the
// plan's ip when the device holds it, else at its public, then its private IPv4 address.
func instanceOf(p *plan.Plan, n *plan.Node, d metalv1.Device, created bool) providers.Instance {
	in := providers.Instance{Host: n.Host, ID: d.GetId(), State: string(d.GetState()), Created: created}
	for _, ip := range d.IpAddresses {
		if ip.GetAddressFamily() != 4 {
			continue
		}
		if ip.GetPublic() && in.PublicIP == "" {
			in.PublicIP = ip.GetAddress()
		} else if !ip.GetPublic() && in.PrivateIP == "" {
			in.PrivateIP = ip.GetAddress()
		}
	}
	in.SSHAddr = providers.SSHAddress(p, n, in.PublicIP, in.PrivateIP)
	return in
}

func (m *Metal) waitActive(ctx context.Context, api *metalv1.APIClient, d metalv1.Device) (metalv1.Device, error) {
	poll, timeout := m.PollInterval, m.WaitTimeout
	if poll <= 0 {
		poll = 10 * time.Second
	}
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		switch d.GetState() {
		case metalv1.DEVICESTATE_ACTIVE:
			return d, nil
		case metalv1.DEVICESTATE_FAILED:
			return d, fmt.Errorf("%w: %s", ErrDeviceFailed, d.GetId())
		case metalv1.DEVICESTATE_INACTIVE:
			return d, nil // powered off by someone: nothing to wait for
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("%w: device %s still %s after %s", ErrTimeout, d.GetId(), d.GetState(), timeout)
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(poll):
		}
		next, resp, err := api.DevicesApi.FindDeviceById(ctx, d.GetId()).Execute()
		if err != nil {
			return d, fmt.Errorf("read device %s: %w", d.GetId(), apiErr(err, resp))
		}
		d = *next
	}
}

// Destroy implements providers.Provider: devices tagged for the cluster are deleted when
// kisgen's record lists them too, or all of them with opts.FromTags (a state directory
// that is gone).
func (m *Metal) Destroy(ctx context.Context, p *plan.Plan, opts providers.Options) error {
	prog := providers.NewProgress(opts.Progress, Name)
	rec := &recorder{stateDir: opts.StateDir}
	found, err := providers.LoadRecord(opts.StateDir, Name, &rec.rec)
	if err != nil {
		return err
	}
	if found && rec.rec.Cluster != p.Name {
		return fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.rec.Cluster, p.Name)
	}
	api, err := m.client(p)
	if err != nil {
		return err
	}
	devs, err := findDevices(ctx, api, p)
	if err != nil {
		return err
	}
	hosts := make([]string, 0, len(devs))
	for h := range devs {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	var errs []error
	var strangers []string
	if rec.rec.Devices == nil {
		rec.rec.Devices = map[string]string{}
	}
	for _, h := range hosts {
		d := devs[h]
		if nonce := rec.rec.Launches[h]; nonce != "" && hasTag(d, TagLaunch+"="+nonce) {
			rec.rec.Devices[h] = d.GetId()
		}
		if rec.rec.Devices[h] != d.GetId() && !opts.FromTags {
			strangers = append(strangers, fmt.Sprintf("device %s (%s)", d.GetId(), h))
			continue
		}
		resp, err := api.DevicesApi.DeleteDevice(ctx, d.GetId()).Execute()
		if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
			errs = append(errs, fmt.Errorf("%s: delete device %s: %w", h, d.GetId(), apiErr(err, resp)))
			continue
		}
		prog.Node(h, "deleted device %s", d.GetId())
		if err := rec.update(func(r *record) { delete(r.Devices, h) }); err != nil {
			return err
		}
	}
	for h := range rec.rec.Devices {
		if _, still := devs[h]; !still {
			delete(rec.rec.Devices, h) // gone already
		}
	}
	if len(strangers) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s (kisgen removes only what its record at %s lists)", ErrNotRecorded, strings.Join(strangers, ", "), providers.RecordPath(opts.StateDir, Name)))
	}
	rec.rec.Launches = nil // every launch is now a device deleted above, or none
	if found && len(rec.rec.Devices) == 0 {
		if err := os.Remove(providers.RecordPath(opts.StateDir, Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	} else if found {
		if err := providers.SaveRecord(opts.StateDir, Name, &rec.rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
