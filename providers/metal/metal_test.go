package metal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

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
  name: packet
  packet:
    project_id: PROJECT
    metro: da
    api_url: APIURL
  pxe:
    http_url: http://10.40.0.2:8080
etcd:
  expected_count: 1
  machine: {image: custom_ipxe, type: c3.small.x86}
  nodes:
  - {host: etcd1, ip: 147.75.100.11}
master:
  expected_count: 1
  machine: {image: debian_12, type: c3.small.x86}
  nodes:
  - {host: master1, ip: 147.75.100.21}
worker:
  expected_count: 1
  machine: {image: debian_12, type: m3.large.x86}
  nodes:
  - {host: worker1, ip: 147.75.100.31, internal_ip: 10.70.40.31}
`

func setup(t *testing.T) (*fakeMetal, *plan.Plan, *Metal) {
	t.Helper()
	f := newFakeMetal(t)
	y := strings.NewReplacer("PROJECT", f.project, "APIURL", f.apiURL()).Replace(planYAML)
	p, rep := plan.Parse("plan.yaml", []byte(y), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	// The project reserved each node's addresses (a /32 each), and a block besides.
	f.reservations = map[string]fakeReservation{
		"5d0e1a2b-0011-4c3d-9e8f-000000000011": {"147.75.100.11", 32, true},
		"5d0e1a2b-0021-4c3d-9e8f-000000000021": {"147.75.100.21", 32, true},
		"5d0e1a2b-0031-4c3d-9e8f-000000000031": {"147.75.100.31", 32, true},
		"5d0e1a2b-1031-4c3d-9e8f-000000001031": {"10.70.40.31", 32, false},
		"5d0e1a2b-0200-4c3d-9e8f-000000000200": {"147.75.200.0", 29, true},
	}
	m := &Metal{PollInterval: time.Millisecond, WaitTimeout: 5 * time.Second, MaxBackoff: time.Millisecond,
		Getenv: func(k string) string {
			if k == "METAL_AUTH_TOKEN" {
				return f.token
			}
			return ""
		}}
	return f, p, m
}

func machines(p *plan.Plan) []providers.Machine {
	var out []providers.Machine
	for _, n := range p.Nodes {
		out = append(out, providers.Machine{Node: n, UserData: []byte("#cloud-config\nhostname: " + n.Host + "\n# " + strings.Repeat("k", 2000) + "\n"), Format: n.Group.Format})
	}
	return out
}

func TestProvisionCreatesEachDeviceWithItsUserData(t *testing.T) {
	f, p, m := setup(t)
	state := t.TempDir()
	ms := machines(p)
	var progress bytes.Buffer
	got, err := m.Provision(context.Background(), p, ms, providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(got) != 3 {
		t.Fatalf("got %+v", got)
	}
	for i, in := range got {
		n := ms[i].Node
		// Each device holds the plan's addresses, the ones the certificates name.
		if !in.Created || in.State != "active" || in.PublicIP != n.IP.String() || in.SSHAddr != n.IP.String()+":22" {
			t.Errorf("%s: %+v, want the plan's %s", in.Host, in, n.IP)
		}
		if n.InternalIP != n.IP && in.PrivateIP != n.InternalIP.String() {
			t.Errorf("%s: private %s, want the plan's internal ip %s", in.Host, in.PrivateIP, n.InternalIP)
		}
		body := f.creates[in.ID]
		want := map[string]any{
			"hostname": n.Host, "metro": "da", "plan": n.Group.Machine.Type, "operating_system": n.Group.Machine.Image,
			"userdata": string(ms[i].UserData), "billing_cycle": "hourly",
		}
		for k, v := range want {
			if diff := cmp.Diff(v, body[k]); diff != "" {
				t.Errorf("%s: create request %s (-want +got):\n%s", n.Host, k, diff)
			}
		}
		tags, _ := body["tags"].([]any)
		if len(tags) != 4 || tags[0] != "kisgen.io/cluster=prod" || tags[1] != "kisgen.io/host="+n.Host ||
			tags[2] != "kisgen.io/roles="+string(n.Roles[0]) || !strings.HasPrefix(tags[3].(string), "kisgen.io/launch=") {
			t.Errorf("%s: tags %v", n.Host, body["tags"])
		}
		if n.Group.Machine.Image == CustomIPXE {
			if body["ipxe_script_url"] != "http://10.40.0.2:8080/ipxe/host/etcd1.ipxe" || body["always_pxe"] != true {
				t.Errorf("%s: custom_ipxe request %v", n.Host, body)
			}
		} else if _, ok := body["ipxe_script_url"]; ok {
			t.Errorf("%s: ipxe_script_url sent for an OS install", n.Host)
		}
	}
	var rec record
	if ok, err := providers.LoadRecord(state, Name, &rec); !ok || err != nil || len(rec.Devices) != 3 || rec.Project != f.project {
		t.Errorf("record %+v %v %v", rec, ok, err)
	}
	// worker1's create asked for the reservations of its ip and internal ip.
	body := f.creates[idOf(got, "worker1")]
	wantIPs := []any{
		map[string]any{"address_family": float64(4), "cidr": float64(32), "public": true, "ip_reservations": []any{"5d0e1a2b-0031-4c3d-9e8f-000000000031"}},
		map[string]any{"address_family": float64(4), "cidr": float64(32), "public": false, "ip_reservations": []any{"5d0e1a2b-1031-4c3d-9e8f-000000001031"}},
	}
	if diff := cmp.Diff(wantIPs, body["ip_addresses"]); diff != "" {
		t.Errorf("worker1's ip_addresses (-want +got):\n%s", diff)
	}
}

func idOf(ins []providers.Instance, host string) string {
	for _, in := range ins {
		if in.Host == host {
			return in.ID
		}
	}
	return ""
}

// TestUnreservedAddressesAreRefusedBeforeAnyDevice: a node whose address the project has
// not reserved as a /32 would get Metal's own, which the certificates do not name: the
// run stops before creating any device, naming the node and how to reserve it.
func TestUnreservedAddressesAreRefusedBeforeAnyDevice(t *testing.T) {
	f, p, m := setup(t)
	f.mu.Lock()
	delete(f.reservations, "5d0e1a2b-0021-4c3d-9e8f-000000000021")
	f.mu.Unlock()
	_, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrAddress) || !strings.Contains(err.Error(), "node master1: 147.75.100.21 is not an address the project reserved") {
		t.Fatalf("got %v", err)
	}
	if n := f.count("POST"); n != 0 {
		t.Errorf("%d devices created before refusing", n)
	}
}

func TestSecondRunCreatesNothingAndPagesThroughDevices(t *testing.T) {
	f, p, m := setup(t)
	state := t.TempDir()
	first, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	creates := f.count("POST")
	lists := f.count("GET /metal/v1/projects/" + f.project + "/devices")
	second, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.count("POST") - creates; n != 0 {
		t.Errorf("second run created %d devices", n)
	}
	// Three devices at two per page: the listing reads both pages.
	if n := f.count("GET /metal/v1/projects/"+f.project+"/devices") - lists; n != 2 {
		t.Errorf("listing took %d requests, want 2 pages", n)
	}
	for i := range first {
		if second[i].ID != first[i].ID || second[i].Created {
			t.Errorf("second run %+v, want %s found", second[i], first[i].ID)
		}
	}
}

func TestRunAfterAFailureFinishesTheJob(t *testing.T) {
	f, p, m := setup(t)
	state := t.TempDir()
	f.failNext["master1"] = "Oh snap, something went wrong! We've logged the error and will take a look - please reach out to us if you continue having trouble."
	got, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state})
	var ne *providers.NodeError
	if !errors.As(err, &ne) || ne.Host != "master1" || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "Oh snap") {
		t.Fatalf("got %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("got %+v", got)
	}
	creates := f.count("POST")
	got, err = m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.count("POST") - creates; n != 1 {
		t.Errorf("second run created %d devices, want only master1", n)
	}
	if len(got) != 3 {
		t.Errorf("got %+v", got)
	}
}

func TestTokenComesFromTheEnvironmentAndIsChecked(t *testing.T) {
	f, p, m := setup(t)
	m.Getenv = func(string) string { return "" }
	_, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrNoToken) || !strings.Contains(err.Error(), "METAL_AUTH_TOKEN") || len(f.requests) != 0 {
		t.Errorf("no token: %v, %d requests", err, len(f.requests))
	}
	m.Getenv = func(k string) string {
		if k == "PACKET_AUTH_TOKEN" {
			return "wrong"
		}
		return ""
	}
	_, err = m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Invalid authentication token") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestUnknownPlanIsTheAPIsError(t *testing.T) {
	_, p, m := setup(t)
	p.Groups[plan.RoleWorker].Machine.Type = "x9.huge.arm"
	_, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `Plan "x9.huge.arm" could not be found`) || !strings.Contains(err.Error(), "worker1") {
		t.Errorf("got %v", err)
	}
}

func TestMissingSettingsAreNamedByPath(t *testing.T) {
	f, p, m := setup(t)
	p.Provider.Packet.Metro = ""
	p.Groups[plan.RoleMaster].Machine.Image = ""
	_, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()})
	for _, s := range []string{"provider.packet.metro", "master.machine.image"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("%v does not name %s", err, s)
		}
	}
	if len(f.requests) != 0 {
		t.Errorf("requests made: %v", f.requests)
	}
}

func TestDestroyRemovesExactlyWhatKisgenCreated(t *testing.T) {
	f, p, m := setup(t)
	state := t.TempDir()
	if _, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	// A device tagged for the cluster by someone else, and one of another cluster.
	f.mu.Lock()
	f.devices = append(f.devices,
		&fakeDevice{id: "stranger-1", hostname: "extra1", state: "active", plan: "c3.small.x86", metro: "da", os: "debian_12", tags: []string{"kisgen.io/cluster=prod", "kisgen.io/host=extra1"}},
		&fakeDevice{id: "other-1", hostname: "master1", state: "active", plan: "c3.small.x86", metro: "da", os: "debian_12", tags: []string{"kisgen.io/cluster=other", "kisgen.io/host=master1"}})
	f.mu.Unlock()
	err := m.Destroy(context.Background(), p, providers.Options{StateDir: state})
	if !errors.Is(err, ErrNotRecorded) || !strings.Contains(err.Error(), "stranger-1") {
		t.Fatalf("got %v", err)
	}
	var live []string
	for _, d := range f.devices {
		if d.state != "deleted" {
			live = append(live, d.id)
		}
	}
	if diff := cmp.Diff([]string{"stranger-1", "other-1"}, live); diff != "" {
		t.Errorf("devices left (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(providers.RecordPath(state, Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left: %v", err)
	}
}

func TestDeviceCreatedBeforeACrashIsRecognised(t *testing.T) {
	f, p, m := setup(t)
	state := t.TempDir()
	first, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	// The run stopped after CreateDevice answered but before the id was recorded: only
	// the launch nonce, which the device carries as a tag, is in the record.
	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	var nonce string
	for _, tg := range f.creates[rec.Devices["worker1"]]["tags"].([]any) {
		if v, ok := strings.CutPrefix(tg.(string), TagLaunch+"="); ok {
			nonce = v
		}
	}
	delete(rec.Devices, "worker1")
	rec.Launches = map[string]string{"worker1": nonce}
	if err := providers.SaveRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	second, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if second[2].ID != first[2].ID || strings.Contains(progress.String(), "not in kisgen's record") {
		t.Errorf("worker1 not recognised: %+v\n%s", second[2], progress.String())
	}
	if err := m.Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
		t.Errorf("destroy: %v", err)
	}
}

// TestProvisionRecordsWhereVerifyReachesEachDevice runs the provider through
// providers.Provision, as `kisgen provision packet` does, and reads the record back the
// way verify does: each device holds its plan address (reserved), where it is reached, with
// the host key kisgen pinned for it.
func TestProvisionRecordsWhereVerifyReachesEachDevice(t *testing.T) {
	_, p, m := setup(t)
	state := t.TempDir()
	keys := sshdtest.HostKeyLines(t, "etcd1", "master1", "worker1")
	got, err := providers.Provision(context.Background(), m, p, machines(p), providers.Options{StateDir: state, HostKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	var want []instances.Instance
	for _, in := range got {
		want = append(want, instances.Instance{Node: in.Host, Machine: in.ID, SSHAddress: p.Node(in.Host).IP.String() + ":22", HostKey: keys[in.Host]})
	}
	rec, err := instances.LoadFor(state, "prod", Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3 {
		t.Fatalf("got %d devices", len(want))
	}
	if d := cmp.Diff(want, rec.Instances, cmpopts.IgnoreFields(instances.Instance{}, "RecordedAt")); d != "" {
		t.Errorf("instances record (-want +got)\n%s", d)
	}
}

// TestDestroyFromTagsWhenTheStateDirectoryIsGone: without kisgen's record the tagged
// devices are listed and left; with FromTags they are deleted.
func TestDestroyFromTagsWhenTheStateDirectoryIsGone(t *testing.T) {
	f, p, m := setup(t)
	if _, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	lost := t.TempDir()
	if err := m.Destroy(context.Background(), p, providers.Options{StateDir: lost}); !errors.Is(err, ErrNotRecorded) {
		t.Fatalf("without a record: %v", err)
	}
	if n := f.count("DELETE"); n != 0 {
		t.Fatalf("%d devices deleted without a record or FromTags", n)
	}
	if err := m.Destroy(context.Background(), p, providers.Options{StateDir: lost, FromTags: true}); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.devices {
		if d.state != "deleted" {
			t.Errorf("device %s (%s) left", d.id, d.hostname)
		}
	}
}

// TestRateLimitedAndFailedRequestsAreRetried: the API's 429 is retried for every request
// (creates too: nothing was done), a 503 for reads and deletes only; a create that met a
// server error is not repeated, as the device may exist.
func TestRateLimitedAndFailedRequestsAreRetried(t *testing.T) {
	f, p, m := setup(t)
	f.mu.Lock()
	f.answers = []answer{{"GET", 429}, {"GET", 503}, {"POST", 429}, {"POST", 429}, {"GET", 502}, {"DELETE", 429}}
	f.mu.Unlock()
	state := t.TempDir()
	got, err := m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: state})
	if err != nil || len(got) != 3 {
		t.Fatalf("%v: %+v", err, got)
	}
	if len(f.devices) != 3 {
		t.Errorf("%d devices, want 3", len(f.devices))
	}
	if err := m.Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	left := len(f.answers)
	f.answers = []answer{{"POST", 503}}
	f.mu.Unlock()
	if left != 0 {
		t.Errorf("%d answers never given: the requests were not made", left)
	}
	creates := f.count("POST")
	_, err = m.Provision(context.Background(), p, machines(p), providers.Options{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("a create that met a 503: %v, want the error", err)
	}
	if n := f.count("POST") - creates; n != 3 {
		t.Errorf("%d creates for 3 nodes: the failed one was repeated", n)
	}
}
