package vsphere

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

const planYAML = `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: prod
  ssh: {user: kismaticuser, ssh_key: kismaticuser.key}
provider:
  name: vsphere
  vsphere:
    datacenter: DC0
    folder: /DC0/vm
    resource_pool: /DC0/host/DC0_C0/Resources
    datastore: LocalDS_0
    network: DC0_DVPG0
    gateway: 10.30.0.1
    dns: [10.30.0.2, 10.30.0.3]
etcd:
  expected_count: 1
  os: flatcar
  machine: {image: /DC0/vm/flatcar-template, cpus: 1, memory_mb: 2048, disk_gb: 60}
  nodes:
  - {host: etcd1, ip: 10.30.0.11}
master:
  expected_count: 1
  machine: {image: /DC0/vm/debian-template, cpus: 2, memory_mb: 4096}
  nodes:
  - {host: master1, ip: 10.30.0.21}
worker:
  expected_count: 2
  machine: {image: /DC0/vm/debian-template, cpus: 4, memory_mb: 8192}
  nodes:
  - {host: worker1, ip: 10.30.0.31, mac: '00:50:56:00:10:31'}
  - {host: worker2, ip: 10.30.0.32, internal_ip: 10.31.0.32}
`

func testPlan(t *testing.T) *plan.Plan {
	t.Helper()
	p, rep := plan.Parse("plan.yaml", []byte(planYAML), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

func userData(p *plan.Plan, sizes map[string]int) []providers.Machine {
	var out []providers.Machine
	for _, n := range p.Nodes {
		size := sizes[n.Host]
		if size == 0 {
			size = 4000
		}
		pad := make([]byte, size)
		_, _ = rand.Read(pad)
		var data []byte
		if n.Group.Format == plan.FormatIgnition {
			data = []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/kisgen/pad","contents":{"source":"data:;base64,` + base64.StdEncoding.EncodeToString(pad) + `"}}]}}`)
		} else {
			data = []byte("#cloud-config\nhostname: " + n.Host + "\nwrite_files:\n- path: /etc/kisgen/pad\n  encoding: b64\n  content: " + base64.StdEncoding.EncodeToString(pad) + "\n")
		}
		out = append(out, providers.Machine{Node: n, UserData: data, Format: n.Group.Format})
	}
	return out
}

// vcenter is govmomi's in-process vCenter simulator with two templates, and a stand-in
// for VMware Tools: once a kisgen clone is powered on, it reads the address from the
// clone's guestinfo.metadata (or the afterburn network kargs) and reports it as the
// guest's, as Tools would once the guest has configured it.
type vcenter struct {
	model  *simulator.Model
	server *simulator.Server
	client *vim25.Client
	stop   chan struct{}
	wg     sync.WaitGroup
	// reports are addresses the stand-in for Tools reports instead of the configured
	// one, by VM name (a guest that took another address than its plan's).
	reports sync.Map
	// booted is the guestinfo each clone had when the stand-in saw it powered on, by VM
	// name: what the guest read at its first boot.
	booted sync.Map
}

func newVCenter(t *testing.T) *vcenter {
	t.Helper()
	model := simulator.VPX()
	model.Datastore = 1
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	model.Service.TLS = new(tls.Config) // a self-signed vCenter: GOVC_INSECURE=1 is needed
	server := model.Service.NewServer()
	vc := &vcenter{model: model, server: server, stop: make(chan struct{})}
	ctx := context.Background()
	c, logout, err := FromEnv(vc.env(nil))(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vc.client = c
	f := find.NewFinder(c, true)
	dc, _ := f.Datacenter(ctx, "DC0")
	f.SetDatacenter(dc)
	for i, name := range []string{"debian-template", "flatcar-template"} {
		vm, err := f.VirtualMachine(ctx, fmt.Sprintf("DC0_H0_VM%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := waitTask(ctx)(vm.PowerOff(ctx)); err != nil {
			t.Fatal(err)
		}
		if err := waitTask(ctx)(vm.Rename(ctx, name)); err != nil {
			t.Fatal(err)
		}
		if err := vm.MarkAsTemplate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	vc.wg.Add(1)
	go vc.tools(t)
	t.Cleanup(func() {
		close(vc.stop)
		vc.wg.Wait()
		logout()
		server.Close()
		model.Remove()
	})
	return vc
}

// env is a GOVC_* environment pointing at the simulator, with overrides.
func (vc *vcenter) env(over map[string]string) func(string) string {
	u := *vc.server.URL
	pass, _ := u.User.Password()
	env := map[string]string{"GOVC_URL": "https://" + u.Host + "/sdk", "GOVC_USERNAME": u.User.Username(), "GOVC_PASSWORD": pass, "GOVC_INSECURE": "1"}
	for k, v := range over {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func (vc *vcenter) provider() *VSphere {
	return &VSphere{Getenv: vc.env(nil), IPTimeout: 10 * time.Second}
}

func (vc *vcenter) tools(t *testing.T) {
	defer vc.wg.Done()
	ctx := context.Background()
	reported := map[string]bool{}
	for {
		select {
		case <-vc.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		f := find.NewFinder(vc.client, true)
		vms, err := f.VirtualMachineList(ctx, "/DC0/vm/prod-*")
		if err != nil {
			continue
		}
		for _, vm := range vms {
			info, err := readVM(ctx, vm)
			if err != nil || info.power != types.VirtualMachinePowerStatePoweredOn || reported[info.uuid] {
				continue
			}
			ip := ""
			if md := info.extra[KeyMetadata]; md != "" {
				var m Metadata
				if json.Unmarshal(decode(t, md), &m) == nil && m.Network != nil {
					ip = strings.Split(m.Network.Ethernets["eth0"].Addresses[0], "/")[0]
				}
			} else if k := info.extra[KeyAfterburnKargs]; k != "" {
				for _, arg := range strings.Fields(k) {
					if v, ok := strings.CutPrefix(arg, "ip="); ok {
						ip = strings.Split(v, ":")[0]
						break
					}
				}
			}
			if other, ok := vc.reports.Load(info.name); ok {
				ip = other.(string)
			}
			if ip == "" {
				continue
			}
			reported[info.uuid] = true
			vc.booted.Store(info.name, info.extra)
			_ = waitTask(ctx)(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "SET.guest.ipAddress", Value: ip}}}))
		}
	}
}

func decode(t *testing.T, s string) []byte {
	t.Helper()
	gz, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Errorf("not base64: %v", err)
		return nil
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Errorf("not gzip: %v", err)
		return nil
	}
	b, _ := io.ReadAll(r)
	return b
}

// clones reads back every kisgen clone: name -> its config.
func (vc *vcenter) clones(t *testing.T) map[string]mo.VirtualMachine {
	t.Helper()
	ctx := context.Background()
	f := find.NewFinder(vc.client, true)
	vms, err := f.VirtualMachineList(ctx, "/DC0/vm/prod-*")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]mo.VirtualMachine{}
	for _, vm := range vms {
		var o mo.VirtualMachine
		if err := property.DefaultCollector(vc.client).RetrieveOne(ctx, vm.Reference(), []string{"name", "config", "runtime", "resourcePool", "datastore", "parent"}, &o); err != nil {
			t.Fatal(err)
		}
		out[o.Name] = o
	}
	return out
}

func TestProvisionClonesEachNodeWithItsGuestinfo(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	ms := userData(p, map[string]int{"master1": 30000})
	state := t.TempDir()
	var progress bytes.Buffer
	got, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatalf("Provision: %v\n%s", err, progress.String())
	}
	if len(got) != 4 {
		t.Fatalf("got %d instances: %+v", len(got), got)
	}
	for _, in := range got {
		n := p.Node(in.Host)
		if !in.Created || in.State != "poweredOn" || in.PrivateIP != n.IP.String() {
			t.Errorf("%s: %+v, want created, powered on, at %s", in.Host, in, n.IP)
		}
	}
	clones := vc.clones(t)
	pool, _ := find.NewFinder(vc.client, true).ResourcePool(context.Background(), "/DC0/host/DC0_C0/Resources")
	pg, err := find.NewFinder(vc.client, true).Network(context.Background(), "/DC0/network/DC0_DVPG0")
	if err != nil {
		t.Fatal(err)
	}
	macs := map[string]string{}
	for _, m := range ms {
		n := m.Node
		vm, ok := clones["prod-"+n.Host]
		if !ok {
			t.Fatalf("no clone for %s", n.Host)
		}
		ec := extraConfig(vm.Config.ExtraConfig)
		if ec[KeyCluster] != "prod" || ec[KeyHost] != n.Host {
			t.Errorf("%s: markers %q %q", n.Host, ec[KeyCluster], ec[KeyHost])
		}
		if want := n.Group.Machine; vm.Config.Hardware.NumCPU != int32(want.CPUs) || vm.Config.Hardware.MemoryMB != int32(want.MemoryMB) {
			t.Errorf("%s: %d CPUs %d MiB, want %d and %d", n.Host, vm.Config.Hardware.NumCPU, vm.Config.Hardware.MemoryMB, want.CPUs, want.MemoryMB)
		}
		if vm.ResourcePool == nil || *vm.ResourcePool != pool.Reference() {
			t.Errorf("%s: in pool %v, want %v", n.Host, vm.ResourcePool, pool.Reference())
		}
		nic := object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		if other, dup := macs[nic.MacAddress]; dup {
			t.Errorf("%s and %s share MAC %s", n.Host, other, nic.MacAddress)
		}
		macs[nic.MacAddress] = n.Host
		if n.MAC != "" && (nic.MacAddress != n.MAC || nic.AddressType != "manual") {
			t.Errorf("%s: NIC %s (%s), want the plan's %s", n.Host, nic.MacAddress, nic.AddressType, n.MAC)
		}
		if b, ok := nic.Backing.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo); !ok || b.Port.PortgroupKey != pg.Reference().Value {
			t.Errorf("%s: NIC backing %#v, want port group %s", n.Host, nic.Backing, pg.Reference().Value)
		}
		for k, v := range ec {
			if strings.HasPrefix(k, "guestinfo.") && len(v) > MaxGuestInfo {
				t.Errorf("%s: %s is %d bytes", n.Host, k, len(v))
			}
		}
		// The guestinfo keys decode to the rendered bytes.
		if m.Format == plan.FormatIgnition {
			// What the guest read at its first boot, and what is left after it.
			b, _ := vc.booted.Load("prod-" + n.Host)
			booted, _ := b.(map[string]string)
			if booted[KeyIgnition+".encoding"] != "gzip+base64" || !bytes.Equal(decode(t, booted[KeyIgnition]), m.UserData) {
				t.Errorf("%s: %s did not decode to the rendered Ignition config at boot", n.Host, KeyIgnition)
			}
			if v, ok := ec[KeyIgnition]; ok {
				t.Errorf("%s: the Ignition config (%d bytes) stays in guestinfo after the node came up", n.Host, len(v))
			}
			nic := object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil))[0].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
			if want := "ifname=kisgen0:" + nic.MacAddress + " ip=10.30.0.11::10.30.0.1:255.255.255.0:etcd1:kisgen0:none nameserver=10.30.0.2 nameserver=10.30.0.3"; ec[KeyAfterburnKargs] != want {
				t.Errorf("%s: afterburn kargs %q, want %q", n.Host, ec[KeyAfterburnKargs], want)
			}
			if _, ok := ec[KeyUserData]; ok {
				t.Errorf("%s: an Ignition node got cloud-init user-data too", n.Host)
			}
			continue
		}
		if ec[KeyUserData+".encoding"] != "gzip+base64" || !bytes.Equal(decode(t, ec[KeyUserData]), m.UserData) {
			t.Errorf("%s: %s does not decode to the rendered user-data", n.Host, KeyUserData)
		}
		var md Metadata
		if err := json.Unmarshal(decode(t, ec[KeyMetadata]), &md); err != nil {
			t.Fatalf("%s: metadata: %v", n.Host, err)
		}
		mac := ""
		for _, d := range object.VirtualDeviceList(vm.Config.Hardware.Device).SelectByType((*types.VirtualEthernetCard)(nil)) {
			mac = d.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress
			break
		}
		wantAddrs := []string{n.IP.String() + "/24"}
		if n.InternalIP != n.IP {
			wantAddrs = append(wantAddrs, n.InternalIP.String()+"/24")
		}
		want := Metadata{InstanceID: vm.Config.InstanceUuid, LocalHostname: n.Host, Network: &NetworkV2{Version: 2, Ethernets: map[string]Ethernet{"eth0": {
			Match: Match{MACAddress: mac}, Addresses: wantAddrs,
			Routes: []Route{{To: "0.0.0.0/0", Via: "10.30.0.1"}}, Nameservers: &Nameservers{Addresses: []string{"10.30.0.2", "10.30.0.3"}},
		}}}, CleanupGuestinfo: []string{"userdata"}}
		if diff := cmp.Diff(want, md); diff != "" {
			t.Errorf("%s: metadata (-want +got):\n%s", n.Host, diff)
		}
	}
	var rec record
	if ok, err := providers.LoadRecord(state, Name, &rec); !ok || err != nil || len(rec.VMs) != 4 {
		t.Errorf("record: %v %v %+v", ok, err, rec)
	}
}

// provisioned is the simulator with the test plan's clones provisioned.
func provisioned(t *testing.T) (*vcenter, *plan.Plan, []providers.Machine) {
	t.Helper()
	vc := newVCenter(t)
	p := testPlan(t)
	ms := userData(p, nil)
	if _, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return vc, p, ms
}

func TestCloudInitReadsTheGuestinfo(t *testing.T) {
	py := cloudInitPython(t)
	vc, _, ms := provisioned(t)
	clones := vc.clones(t)
	// cloud-init's own VMware datasource decodes the values (through its environment
	// transport, VMX_GUESTINFO_*, which reads the same keys as the guestinfo one), parses
	// the network config and renders it for systemd-networkd.
	script := `
import base64, json, os, tempfile
from cloudinit.sources import DataSourceVMware as d
from cloudinit.net import network_state, networkd
md = d.process_metadata(d.load_json_or_yaml(d.guestinfo_envvar("metadata")))
ud = d.guestinfo_envvar("userdata")
ns = network_state.parse_net_config_data(md["network"]["config"], skip_broken=False)
out = tempfile.mkdtemp()
networkd.Renderer().render_network_state(ns, target=out)
files = {}
for root, _, names in os.walk(out):
    for n in names:
        files[n] = open(os.path.join(root, n)).read()
print(json.dumps({"hostname": md["local-hostname"], "userdata": base64.b64encode(ud.encode()).decode(), "networkd": files}))
`
	for _, m := range ms {
		if m.Format != plan.FormatCloudInit {
			continue
		}
		ec := extraConfig(clones["prod-"+m.Node.Host].Config.ExtraConfig)
		cmd := exec.Command(py, "-c", script)
		cmd.Env = append(os.Environ(), "VMX_GUESTINFO=1",
			"VMX_GUESTINFO_USERDATA="+ec[KeyUserData], "VMX_GUESTINFO_USERDATA_ENCODING="+ec[KeyUserData+".encoding"],
			"VMX_GUESTINFO_METADATA="+ec[KeyMetadata], "VMX_GUESTINFO_METADATA_ENCODING="+ec[KeyMetadata+".encoding"])
		out, err := cmd.Output()
		if err != nil {
			var ee *exec.ExitError
			errors.As(err, &ee)
			t.Fatalf("%s: cloud-init: %v\n%s", m.Node.Host, err, ee.Stderr)
		}
		var got struct {
			Hostname, UserData string
			Networkd           map[string]string
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		ud, _ := base64.StdEncoding.DecodeString(got.UserData)
		if got.Hostname != m.Node.Host || !bytes.Equal(ud, m.UserData) {
			t.Errorf("%s: cloud-init read hostname %q and %d bytes of user-data", m.Node.Host, got.Hostname, len(ud))
		}
		unit := got.Networkd["10-cloud-init-eth0.network"]
		for _, want := range []string{"Address=" + m.Node.IP.String() + "/24", "Gateway=10.30.0.1", "DNS=10.30.0.2 10.30.0.3", "MACAddress="} {
			if !strings.Contains(unit, want) {
				t.Errorf("%s: networkd unit lacks %q:\n%s", m.Node.Host, want, unit)
			}
		}
	}
}

// cloudInitPython is the interpreter cloud-init runs on (from its script's #! line).
func cloudInitPython(t *testing.T) string {
	t.Helper()
	path := testtool.Require(t, "cloud-init", "cloud-init")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return strings.Fields(strings.TrimPrefix(line, "#!"))[0]
}

func TestSecondRunClonesNothing(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	ms := userData(p, nil)
	state := t.TempDir()
	first, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	second, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		if second[i].ID != first[i].ID || second[i].Created {
			t.Errorf("second run: %+v, want %s found", second[i], first[i].ID)
		}
	}
	if n := len(vc.clones(t)); n != 4 {
		t.Errorf("%d clones after two runs, want 4", n)
	}
}

func TestRunAfterAFailureFinishesTheJob(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	ms := userData(p, nil)
	state := t.TempDir()
	// worker2's template is missing on the first run.
	p.Groups[plan.RoleWorker].Machine.Image = "/DC0/vm/missing-template"
	got, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	var ne *providers.NodeError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "worker.machine.image") || len(got) != 2 {
		t.Fatalf("got %v, %d instances; want the workers to fail on their template", err, len(got))
	}
	// A clone left powered off by an interrupted run is finished, not cloned again.
	ctx := context.Background()
	f := find.NewFinder(vc.client, true)
	vm, _ := f.VirtualMachine(ctx, "/DC0/vm/prod-master1")
	if err := waitTask(ctx)(vm.PowerOff(ctx)); err != nil {
		t.Fatal(err)
	}
	p.Groups[plan.RoleWorker].Machine.Image = "/DC0/vm/debian-template"
	got, err = vc.provider().Provision(ctx, p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range got {
		wantCreated := strings.HasPrefix(in.Host, "worker")
		if in.Created != wantCreated || in.State != "poweredOn" {
			t.Errorf("%+v: created %v, want %v, powered on", in, in.Created, wantCreated)
		}
	}
}

func TestVMOfTheSameNameNotMadeByKisgenIsRefused(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	ctx := context.Background()
	f := find.NewFinder(vc.client, true)
	vm, err := f.VirtualMachine(ctx, "/DC0/vm/DC0_C0_RP0_VM0") // someone's VM, named like a node
	if err != nil {
		t.Fatal(err)
	}
	if err := waitTask(ctx)(vm.Rename(ctx, "prod-master1")); err != nil {
		t.Fatal(err)
	}
	_, err = vc.provider().Provision(ctx, p, userData(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrNotKisgens) || !strings.Contains(err.Error(), "prod-master1") {
		t.Errorf("got %v", err)
	}
}

func TestTooLargeUserDataIsRefusedBeforeConnecting(t *testing.T) {
	p := testPlan(t)
	connected := false
	v := &VSphere{Connect: func(context.Context) (*vim25.Client, func(), error) {
		connected = true
		return nil, nil, errors.New("should not connect")
	}, Getenv: func(string) string { return "" }}
	_, err := v.Provision(context.Background(), p, userData(p, map[string]int{"worker2": 60000}), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, providers.ErrUserDataTooLarge) || !strings.Contains(err.Error(), "worker2") || connected {
		t.Errorf("got %v (connected %v)", err, connected)
	}
}

func TestMissingCredentialsAreNamed(t *testing.T) {
	p := testPlan(t)
	v := &VSphere{Getenv: func(string) string { return "" }}
	_, err := v.Provision(context.Background(), p, userData(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "GOVC_URL") {
		t.Errorf("got %v", err)
	}
}

func TestDestroyRemovesExactlyWhatKisgenCreated(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	state := t.TempDir()
	if _, err := vc.provider().Provision(context.Background(), p, userData(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	// A clone marked for the cluster that the record does not know.
	ctx := context.Background()
	f := find.NewFinder(vc.client, true)
	tmpl, _ := f.VirtualMachine(ctx, "/DC0/vm/debian-template")
	folder, _ := f.Folder(ctx, "/DC0/vm")
	pool, _ := f.ResourcePool(ctx, "/DC0/host/DC0_C0/Resources")
	poolRef := pool.Reference()
	task, _ := tmpl.Clone(ctx, folder, "prod-extra", types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{Pool: &poolRef},
		Config:   &types.VirtualMachineConfigSpec{ExtraConfig: options(map[string]string{KeyCluster: "prod", KeyHost: "extra"})},
	})
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	err := vc.provider().Destroy(ctx, p, providers.Options{StateDir: state})
	if !errors.Is(err, ErrNotRecorded) || !strings.Contains(err.Error(), "prod-extra") {
		t.Fatalf("got %v", err)
	}
	left := vc.clones(t)
	if len(left) != 1 {
		t.Errorf("left: %v, want only prod-extra", keys(left))
	}
	if _, ok := left["prod-extra"]; !ok {
		t.Error("the unrecorded clone was deleted")
	}
	for _, tmplName := range []string{"debian-template", "flatcar-template"} {
		if _, err := f.VirtualMachine(ctx, "/DC0/vm/"+tmplName); err != nil {
			t.Errorf("template %s: %v", tmplName, err)
		}
	}
	if _, err := os.Stat(providers.RecordPath(state, Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left: %v", err)
	}
}

func keys(m map[string]mo.VirtualMachine) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCloneFinishedBeforeACrashIsRecognised(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	ms := userData(p, nil)
	state := t.TempDir()
	first, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	// The run crashed after master1's clone task finished but before the record said
	// which VM it was: only the UUID chosen beforehand is there.
	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	clones := vc.clones(t)
	if got := clones["prod-master1"].Config.InstanceUuid; got != rec.VMs["master1"].InstanceUUID {
		t.Fatalf("clone's instance UUID %s, recorded %s: the UUID chosen before cloning was not used", got, rec.VMs["master1"].InstanceUUID)
	}
	rec.VMs["master1"].Ref = ""
	if err := providers.SaveRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	second, err := vc.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(progress.String(), "not in kisgen's record") || second[1].ID != first[1].ID {
		t.Errorf("master1 not recognised:\n%s", progress.String())
	}
	if err := vc.provider().Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
		t.Errorf("destroy: %v", err)
	}
}

// TestProvisionRecordsWhereVerifyReachesEachVM runs the provider through
// providers.Provision, as `kisgen provision vsphere` does, and reads the record back the
// way verify does: each clone at the address VMware Tools reports (its plan ip, or for
// worker2 another one), with the host key kisgen pinned for it.
func TestProvisionRecordsWhereVerifyReachesEachVM(t *testing.T) {
	vc := newVCenter(t)
	vc.reports.Store("prod-worker2", "10.30.9.32")
	p := testPlan(t)
	state := t.TempDir()
	keys := sshdtest.HostKeyLines(t, "etcd1", "master1", "worker1", "worker2")
	got, err := providers.Provision(context.Background(), vc.provider(), p, userData(p, nil), providers.Options{StateDir: state, HostKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ref := map[string]string{}
	for _, in := range got {
		ref[in.Host] = in.ID
	}
	rec, err := instances.LoadFor(state, "prod", Name)
	if err != nil {
		t.Fatal(err)
	}
	want := []instances.Instance{
		{Node: "etcd1", Machine: ref["etcd1"], SSHAddress: "10.30.0.11:22", HostKey: keys["etcd1"]},
		{Node: "master1", Machine: ref["master1"], SSHAddress: "10.30.0.21:22", HostKey: keys["master1"]},
		{Node: "worker1", Machine: ref["worker1"], SSHAddress: "10.30.0.31:22", HostKey: keys["worker1"]},
		{Node: "worker2", Machine: ref["worker2"], SSHAddress: "10.30.9.32:22", HostKey: keys["worker2"]},
	}
	if d := cmp.Diff(want, rec.Instances, cmpopts.IgnoreFields(instances.Instance{}, "RecordedAt")); d != "" {
		t.Errorf("instances record (-want +got)\n%s", d)
	}
	for _, in := range rec.Instances {
		if !strings.HasPrefix(in.Machine, "vm-") {
			t.Errorf("%s: machine %q is not a VM reference", in.Node, in.Machine)
		}
	}
}

// TestMACsOutsideVMwaresManualRangeAreRefused: VMware accepts MAC addresses set by hand
// only in 00:50:56:00:00:00-00:50:56:3f:ff:ff; validate names the node's mac key, and
// provision refuses before connecting.
func TestMACsOutsideVMwaresManualRangeAreRefused(t *testing.T) {
	y := strings.Replace(planYAML, "mac: '00:50:56:00:10:31'", "mac: '00:50:56:40:10:31'", 1)
	p, rep := plan.Parse("plan.yaml", []byte(y), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	connected := false
	v := &VSphere{Connect: func(context.Context) (*vim25.Client, func(), error) {
		connected = true
		return nil, nil, errors.New("should not connect")
	}}
	found := providers.Check(v, p, providers.Options{})
	if len(found.Findings) != 1 || found.Findings[0].Path != "worker.nodes[0].mac" || found.Findings[0].Line != 31 ||
		!strings.Contains(found.Findings[0].Message, "00:50:56:40:10:31 is outside the range VMware accepts") {
		t.Errorf("findings: %v", found.Findings)
	}
	_, err := v.Provision(context.Background(), p, userData(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "worker.nodes[0].mac") || connected {
		t.Errorf("got %v (connected %v)", err, connected)
	}
	for _, ok := range []string{"00:50:56:00:00:00", "00:50:56:3f:ff:ff", "00:50:56:3F:12:34"} {
		if !manualMAC(ok) {
			t.Errorf("%s is in the range", ok)
		}
	}
	for _, bad := range []string{"00:50:56:40:00:00", "00:0c:29:00:00:01", "52:54:00:12:34:56"} {
		if manualMAC(bad) {
			t.Errorf("%s is outside the range", bad)
		}
	}
}

// TestDestroyFromTagsWhenTheStateDirectoryIsGone: without kisgen's record the marked
// clones are listed and left; with FromTags they are powered off and deleted.
func TestDestroyFromTagsWhenTheStateDirectoryIsGone(t *testing.T) {
	vc := newVCenter(t)
	p := testPlan(t)
	if _, err := vc.provider().Provision(context.Background(), p, userData(p, nil), providers.Options{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	lost := t.TempDir()
	changes, err := providers.Preview(context.Background(), vc.provider(), p, providers.Options{StateDir: lost}, true)
	if err != nil || len(changes) != 4 || changes[0].Action != providers.ActionLeave {
		t.Fatalf("destroy preview without a record: %+v %v", changes, err)
	}
	if err := vc.provider().Destroy(context.Background(), p, providers.Options{StateDir: lost}); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("without a record: %v", err)
	}
	if n := len(vc.clones(t)); n != 4 {
		t.Fatalf("%d clones left, want the 4 untouched", n)
	}
	if err := vc.provider().Destroy(context.Background(), p, providers.Options{StateDir: lost, FromTags: true}); err != nil {
		t.Fatal(err)
	}
	left, err := find.NewFinder(vc.client, true).VirtualMachineList(context.Background(), "/DC0/vm/prod-*")
	var nf *find.NotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("clones left: %v (%v)", left, err)
	}
}

// TestCloudInitClearsItsUserDataFromGuestinfo boots nothing: it runs cloud-init's own
// VMware datasource on a clone's guestinfo the way it runs in the guest, through
// vmware-rpctool, here a stand-in that reads and writes the simulator's ExtraConfig. The
// datasource reads the metadata, the user-data and, because the metadata says
// cleanup-guestinfo, overwrites the user-data; read back from the simulator, the
// user-data (the node's private keys) is gone.
func TestCloudInitClearsItsUserDataFromGuestinfo(t *testing.T) {
	py := cloudInitPython(t)
	vc, _, _ := provisioned(t)
	ctx := context.Background()
	vm, err := find.NewFinder(vc.client, true).VirtualMachine(ctx, "/DC0/vm/prod-master1")
	if err != nil {
		t.Fatal(err)
	}
	// The guest's view of guestinfo: one file per key; info-set writes KEY.set.
	dir := t.TempDir()
	for k, v := range extraConfig(vc.clones(t)["prod-master1"].Config.ExtraConfig) {
		if strings.HasPrefix(k, "guestinfo.") {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	rpctool := filepath.Join(t.TempDir(), "vmware-rpctool")
	if err := os.WriteFile(rpctool, []byte(`#!/bin/sh
# vmware-rpctool "info-get guestinfo.KEY" | "info-set guestinfo.KEY VALUE"
cmd=${1%% *} rest=${1#* }
key=${rest%% *}
case $cmd in
info-get) if [ -f "`+dir+`/$key" ]; then cat "`+dir+`/$key"; else echo "No value found" >&2; exit 1; fi ;;
info-set) printf '%s' "${rest#* }" >"`+dir+`/$key.set" ;;
*) exit 2 ;;
esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, tempfile
from cloudinit import dmi, helpers
from cloudinit.sources import DataSourceVMware as d
dmi.read_dmi_data = lambda key: "VMware Virtual Platform"  # what the guest's DMI says
tmp = tempfile.mkdtemp()
ds = d.DataSourceVMware(sys_cfg={}, distro=None, paths=helpers.Paths({"cloud_dir": tmp, "run_dir": tmp}))
ds.vmware_rpctool = sys.argv[1]
if not ds._get_data():
    sys.exit("the datasource found no data")
print(ds.metadata["local-hostname"])
`
	cmd := exec.Command(py, "-c", script, rpctool)
	cmd.Env = append(os.Environ(), "VMX_GUESTINFO=") // the guestinfo transport, not the environment
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "master1") {
		t.Fatalf("cloud-init: %v\n%s", err, out)
	}
	// What cloud-init set goes back to the VM, as VMware Tools would do it.
	sets, _ := filepath.Glob(filepath.Join(dir, "*.set"))
	var spec []types.BaseOptionValue
	for _, s := range sets {
		v, _ := os.ReadFile(s)
		spec = append(spec, &types.OptionValue{Key: strings.TrimSuffix(filepath.Base(s), ".set"), Value: string(v)})
	}
	if len(spec) == 0 {
		t.Fatalf("cloud-init cleared nothing:\n%s", out)
	}
	if err := waitTask(ctx)(vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: spec})); err != nil {
		t.Fatal(err)
	}
	ec := extraConfig(vc.clones(t)["prod-master1"].Config.ExtraConfig)
	if got := ec[KeyUserData]; got != "---" {
		t.Errorf("%s after cloud-init read it: %d bytes, want cloud-init's empty YAML document", KeyUserData, len(got))
	}
	if got := strings.TrimSpace(ec[KeyUserData+".encoding"]); got != "" {
		t.Errorf("%s.encoding after cloud-init read it: %q", KeyUserData, got)
	}
	if md := ec[KeyMetadata]; md == "" || md == "---" {
		t.Errorf("the metadata (no secret) was cleared too")
	}
}

// TestIgnitionKernelArgumentsCarryTheNetwork hands the afterburn kernel arguments of a
// node with an internal ip to systemd's own parser of dracut's network arguments
// (systemd-network-generator, what Flatcar's initrd runs): the NIC matched by its MAC
// holds the plan's ip and internal ip, the gateway and both DNS servers.
func TestIgnitionKernelArgumentsCarryTheNetwork(t *testing.T) {
	gen := ""
	for _, c := range []string{"/usr/lib/systemd/systemd-network-generator", "/lib/systemd/systemd-network-generator"} {
		if _, err := os.Stat(c); err == nil {
			gen = c
			break
		}
	}
	if gen == "" {
		testtool.Missing(t, "systemd-network-generator is not installed (apt-get install systemd)")
	}
	p := testPlan(t)
	n := p.Node("worker2") // ip 10.30.0.32, internal_ip 10.31.0.32
	kargs := afterburnKargs(n, "00:50:56:00:10:32", Network{PrefixLength: 24, Gateway: "10.30.0.1", DNS: []string{"10.30.0.2", "10.30.0.3"}})
	root := t.TempDir()
	out, err := exec.Command(gen, append([]string{"--root=" + root, "--"}, strings.Fields(kargs)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", gen, err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, "run", "systemd", "network", name))
		if err != nil {
			t.Fatalf("%v (the generator wrote: %s)", err, out)
		}
		return string(b)
	}
	link, network := read("90-kisgen0.link"), read("90-kisgen0.network")
	if !strings.Contains(link, "MACAddress=00:50:56:00:10:32") || !strings.Contains(link, "Name=kisgen0") {
		t.Errorf("link:\n%s", link)
	}
	for _, want := range []string{"Address=10.30.0.32/24", "Address=10.31.0.32/24", "Gateway=10.30.0.1", "DNS=10.30.0.2", "DNS=10.30.0.3", "DHCP=no"} {
		if !strings.Contains(network, want) {
			t.Errorf("network lacks %q:\n%s", want, network)
		}
	}
}
