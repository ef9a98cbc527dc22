package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"github.com/kisgen/kisgen/roles"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// loadExample copies an example plan into a temporary directory with a fresh SSH key.
func loadExample(t *testing.T, name string) *plan.Plan {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "examples", name))
	must(t, err)
	path := filepath.Join(dir, name)
	must(t, os.WriteFile(path, data, 0o644))
	_, key, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	sshdtest.WritePrivateKey(t, filepath.Join(dir, "kismaticuser.key"), key)
	p, rep, err := plan.Load(path)
	must(t, err)
	if rep.IsFatal(false) {
		t.Fatalf("%s: %s", name, rep.Summary())
	}
	return p
}

func TestFromPlanFillsWhatThePlanDecides(t *testing.T) {
	p := loadExample(t, "ha.yaml")
	_, etcd1Key := sshdtest.NewHostKey(t)
	_, pkiKey := sshdtest.NewHostKey(t)
	_, recordedKey := sshdtest.NewHostKey(t)
	targets, err := FromPlan(p, PlanInputs{
		Signer: sshdtest.NewSigner(t),
		HostKey: func(host string) (ssh.PublicKey, error) {
			return map[string]ssh.PublicKey{"etcd1": etcd1Key, "worker2": pkiKey}[host], nil
		},
		Instances: &instances.Record{Cluster: "ha", Provider: "aws", Instances: []instances.Instance{
			{Node: "worker2", Machine: "i-2", SSHAddress: "127.0.0.1:2232", HostKey: string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(recordedKey)))},
			{Node: "worker3", Machine: "i-3", SSHAddress: "198.51.100.33:22"},
		}},
	})
	must(t, err)
	var hosts []string
	for _, tg := range targets {
		hosts = append(hosts, tg.Host)
	}
	if d := cmp.Diff([]string{"etcd1", "etcd2", "etcd3", "master1", "master2", "worker1", "worker2", "worker3"}, hosts); d != "" {
		t.Fatalf("hosts (-want +got)\n%s", d)
	}
	ignore := cmp.Options{cmpopts.IgnoreFields(Target{}, "Signer", "HostKey"), cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})}
	want := map[string]Target{
		"etcd1": {Host: "etcd1", Addr: "10.10.0.11:22", User: "kismaticuser", Roles: []string{"etcd"}, Expect: Expectations{
			Provisioner: "cloud-init", RenewBefore: 720 * time.Hour,
			Etcd: &EtcdExpect{Endpoint: "https://10.10.0.11:2379", Members: []string{"etcd1", "etcd2", "etcd3"}}}},
		"master1": {Host: "master1", Addr: "10.10.0.21:22", User: "kismaticuser", Roles: []string{"master"}, Expect: Expectations{
			Provisioner: "cloud-init", RenewBefore: 720 * time.Hour,
			APIServer: &APIServerExpect{URL: "https://10.10.0.21:6443"},
			Node:      &NodeExpect{Name: "master1"},
			VirtualIP: &VirtualIPExpect{Address: "10.10.0.20", StatsSocket: roles.HAProxyStatsSocket, Backend: roles.HAProxyBackend},
			Services: &ServicesExpect{Kubernetes: netip.MustParseAddrPort("172.17.0.1:443"), DNS: netip.MustParseAddr("172.17.0.10"),
				Name: "kubernetes.default.svc.cluster.local", Want: netip.MustParseAddr("172.17.0.1")},
			Calico: &CalicoExpect{BGPPeers: []string{"10.10.0.22", "10.10.0.31", "10.10.0.32", "10.10.0.33"}, BirdInPod: true, ASNumber: 64511}}},
		"worker2": {Host: "worker2", Addr: "127.0.0.1:2232", User: "kismaticuser", Roles: []string{"worker"}, Expect: Expectations{
			Provisioner: "cloud-init", RenewBefore: 720 * time.Hour,
			Node: &NodeExpect{Name: "worker2", Labels: map[string]string{"example.com/gpu": "true"}, Taints: []string{"example.com/gpu=true:NoSchedule"}},
			Services: &ServicesExpect{Kubernetes: netip.MustParseAddrPort("172.17.0.1:443"), DNS: netip.MustParseAddr("172.17.0.10"),
				Name: "kubernetes.default.svc.cluster.local", Want: netip.MustParseAddr("172.17.0.1")},
			Calico: &CalicoExpect{BGPPeers: []string{"10.10.0.21", "10.10.0.22", "10.10.0.31", "10.10.0.33"}, BirdInPod: true, ASNumber: 64511}}},
	}
	for _, tg := range targets {
		w, ok := want[tg.Host]
		if !ok {
			continue
		}
		if d := cmp.Diff(w, tg, ignore, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s (-want +got)\n%s", tg.Host, d)
		}
		if tg.Signer == nil {
			t.Errorf("%s has no signer", tg.Host)
		}
	}
	if targets[0].HostKey == nil || targets[1].HostKey != nil {
		t.Errorf("host keys: etcd1 %v, etcd2 %v; want etcd1's only", targets[0].HostKey, targets[1].HostKey)
	}
	// The recorded key is what the machine booted with: it wins over the other sources.
	if k := targets[6].HostKey; k == nil || !bytes.Equal(k.Marshal(), recordedKey.Marshal()) {
		t.Errorf("worker2 pins %v, want the recorded key", k)
	}
	if targets[7].Addr != "198.51.100.33:22" || targets[7].HostKey != nil {
		t.Errorf("worker3: %s %v, want the recorded address and no key (none recorded, none given)", targets[7].Addr, targets[7].HostKey)
	}

	boom := errors.New("corrupt bundle")
	if _, err := FromPlan(p, PlanInputs{HostKey: func(string) (ssh.PublicKey, error) { return nil, boom }}); !errors.Is(err, boom) {
		t.Errorf("host key error: %v", err)
	}
}

// TestFromPlanOverlayModeChecksTheTunnelAndTheMesh: IP-in-IP routes are learnt over the
// same BGP full mesh, so overlay mode checks the sessions and tunl0.
func TestFromPlanOverlayModeChecksTheTunnelAndTheMesh(t *testing.T) {
	targets, err := FromPlan(loadExample(t, "minimal.yaml"), PlanInputs{})
	must(t, err)
	want := map[string]*CalicoExpect{
		"master1": {BGPPeers: []string{"10.10.0.31"}, BirdInPod: true, ASNumber: 64511, Tunnel: "tunl0"},
		"worker1": {BGPPeers: []string{"10.10.0.21"}, BirdInPod: true, ASNumber: 64511, Tunnel: "tunl0"},
	}
	for _, tg := range targets {
		if d := cmp.Diff(want[tg.Host], tg.Expect.Calico); d != "" {
			t.Errorf("%s Calico (-want +got)\n%s", tg.Host, d)
		}
	}
}

func TestFromPlanRefusesARecordedHostKeyThatDoesNotParse(t *testing.T) {
	rec := &instances.Record{Instances: []instances.Instance{{Node: "etcd1", Machine: "q1", SSHAddress: "127.0.0.1:2201", HostKey: "ssh-ed25519 AAAA-not-base64"}}}
	if _, err := FromPlan(loadExample(t, "minimal.yaml"), PlanInputs{Instances: rec}); !errors.Is(err, ErrBadTarget) || !strings.Contains(err.Error(), "etcd1: recorded host key") {
		t.Errorf("err %v, want a bad target naming etcd1's recorded key", err)
	}
}

func TestParseHostKey(t *testing.T) {
	_, k := sshdtest.NewHostKey(t)
	got, err := ParseHostKey(ssh.MarshalAuthorizedKey(k))
	if err != nil || string(got.Marshal()) != string(k.Marshal()) {
		t.Errorf("ParseHostKey: %v", err)
	}
	if _, err := ParseHostKey([]byte("not a key")); !errors.Is(err, ErrBadTarget) {
		t.Errorf("bad key: %v", err)
	}
}
