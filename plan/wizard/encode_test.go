package wizard

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/plan/v1alpha1"
)

var modelOptions = cmp.Options{
	cmpopts.IgnoreUnexported(plan.Plan{}, plan.Node{}),
	cmpopts.IgnoreFields(plan.Plan{}, "File"),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
}

// TestEncodeRoundTrip encodes every kisgen plan of the repository and decodes it again:
// the document and the model it loads into must be what they were, and encoding twice
// must give the same bytes.
func TestEncodeRoundTrip(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../examples/*.yaml", "../testdata/rules/*.yaml"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "apiVersion: kisgen.io/v1alpha1") {
			continue
		}
		var v v1alpha1.Plan
		if yaml.Unmarshal(data, &v) != nil {
			continue // fixtures of type errors
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := Encode(&v, EncodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var back v1alpha1.Plan
			dec := yaml.NewDecoder(strings.NewReader(string(out)))
			dec.KnownFields(true)
			if err := dec.Decode(&back); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if diff := cmp.Diff(v, back, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("document (-before +after):\n%s", diff)
			}
			p1, _ := plan.Parse("a.yaml", data, plan.Options{})
			p2, _ := plan.Parse("a.yaml", out, plan.Options{})
			if diff := cmp.Diff(p1, p2, modelOptions); diff != "" {
				t.Errorf("model (-before +after):\n%s", diff)
			}
			if again, _ := Encode(&v, EncodeOptions{}); string(again) != string(out) {
				t.Error("encoding twice gives different bytes")
			}
		})
	}
	if n < 100 {
		t.Errorf("only %d plans round-tripped", n)
	}
}

func TestEncodeQuotesWhatYAMLWouldMisread(t *testing.T) {
	v := &v1alpha1.Plan{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind}
	v.Cluster.Name = "true"
	v.Cluster.Certificates.Location.City = "a: b # c"
	v.Cluster.Certificates.Location.State = "010"
	v.Worker.Nodes = []v1alpha1.Node{{Host: "w", IP: "10.0.0.1", Labels: map[string]string{"z": "null", "a": "- x", "m": "~"}}}
	out, err := Encode(v, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var back v1alpha1.Plan
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, &back, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-before +after):\n%s\n%s", diff, out)
	}
	if a, m, z := strings.Index(string(out), "a: "), strings.Index(string(out), "m: "), strings.Index(string(out), "z: "); !(a < m && m < z) {
		t.Errorf("labels are not sorted:\n%s", out)
	}
}

// TestDefaultPlan is the plan `kisgen plan --non-interactive` writes: compared with its
// golden file, and parsed back into the model the answers mean.
func TestDefaultPlan(t *testing.T) {
	a, err := Interview(strings.NewReader(""), io.Discard, Options{NonInteractive: true, PlanDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p, opts := a.Plan()
	opts.Header = a.Header()
	data, err := Encode(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/defaults.yaml", data)

	got, rep := plan.Parse("kismatic-cluster.yaml", data, plan.Options{})
	if got == nil || len(rep.Findings) != 0 {
		t.Fatalf("findings: %v", rep.Findings)
	}
	type node struct {
		Host, IP string
		Roles    []plan.Role
	}
	type model struct {
		Name, API, Pod, Service, Expiry, Country, User, Key, OS, Provider string
		AS                                                                uint32
		Mode                                                              plan.CalicoMode
		Policy, Hosts                                                     bool
		Format                                                            plan.Format
		Nodes                                                             []node
	}
	m := model{got.Name, got.APIServerURL(), got.Network.PodCIDR.String(), got.Network.ServiceCIDR.String(), got.Certificates.Expiry.String(),
		got.Certificates.Country, got.SSH.User, got.SSH.KeyFile, got.Groups[plan.RoleWorker].OS, got.Provider.Name, got.Network.ASNumber,
		got.Network.Mode, got.Network.NetworkPolicy, got.Network.UpdateHostsFiles, got.Groups[plan.RoleEtcd].Format, nil}
	for _, n := range got.Nodes {
		m.Nodes = append(m.Nodes, node{n.Host, n.IP.String(), n.Roles})
	}
	want := model{"kubernetes", "https://10.10.0.20:6443", "172.16.0.0/16", "172.17.0.0/16", "17520h0m0s", "US", "kismaticuser", "kismaticuser.key",
		"debian-12", "qemu", 64511, plan.ModeOverlay, false, true, plan.FormatCloudInit, []node{
			{"etcd1", "10.10.0.11", []plan.Role{plan.RoleEtcd}}, {"etcd2", "10.10.0.12", []plan.Role{plan.RoleEtcd}}, {"etcd3", "10.10.0.13", []plan.Role{plan.RoleEtcd}},
			{"master1", "10.10.0.21", []plan.Role{plan.RoleMaster}}, {"master2", "10.10.0.22", []plan.Role{plan.RoleMaster}},
			{"worker1", "10.10.0.31", []plan.Role{plan.RoleWorker}}, {"worker2", "10.10.0.32", []plan.Role{plan.RoleWorker}}, {"worker3", "10.10.0.33", []plan.Role{plan.RoleWorker}},
		}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("parsed back (-want +got):\n%s", diff)
	}
}

// TestAnsweredPlan covers the answers the defaults leave out: routed networking, DNS,
// policy, Ignition, a location, a provider's settings, typed nodes with internal ips.
func TestAnsweredPlan(t *testing.T) {
	a, err := Interview(strings.NewReader(""), io.Discard, Options{NonInteractive: true, PlanDir: t.TempDir(),
		Given: map[string]string{"name": "lab", "os": "flatcar", "networking": "routed", "as-number": "64600", "name-resolution": "dns",
			"network-policy": "true", "city": "Troy", "state": "New York", "country": "us", "provider": "aws", "aws-region": "eu-west-1",
			"aws-subnet-id": "subnet-1", "aws-admin-cidrs": "203.0.113.0/24, 198.51.100.7/32", "cert-expiry": "8760h"},
		Nodes: []string{"etcd:etcd1=192.168.1.11/10.1.0.11", "master:master1=192.168.1.21/10.1.0.21", "worker:worker1=192.168.1.31/10.1.0.31"}})
	if err != nil {
		t.Fatal(err)
	}
	p, opts := a.Plan()
	opts.Header = a.Header()
	data, err := Encode(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "golden/answered.yaml", data)
	got, rep := plan.Parse("kismatic-cluster.yaml", data, plan.Options{})
	if rep.Count(2) > 0 {
		t.Fatalf("findings: %v", rep.Findings)
	}
	if got.Network.Mode != plan.ModeRouted || got.Network.ASNumber != 64600 || got.Network.UpdateHostsFiles || !got.Network.NetworkPolicy ||
		got.Groups[plan.RoleMaster].Format != plan.FormatIgnition || got.Certificates.City != "Troy" || got.Provider.AWS.Region != "eu-west-1" ||
		got.Node("master1").InternalIP.String() != "10.1.0.21" || got.APIServerURL() != "https://10.1.0.21:6443" || got.Certificates.CAExpiry.Hours() != 8760 {
		t.Errorf("parsed back: %+v", got)
	}
}

func TestAnsweredLabPlanParsesBack(t *testing.T) {
	a, err := Interview(strings.NewReader(""), io.Discard, Options{NonInteractive: true, PlanDir: t.TempDir(),
		Given: map[string]string{"cni": "bridge", "cluster-dns": "false", "mirror-url": "http://10.0.2.100:8080",
			"image-archives": "images/pause-3.10.1.tar", "mirror-checksums": "mirror/SHA256SUMS", "etcd": "1", "masters": "1", "workers": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	p, opts := a.Plan()
	data, err := Encode(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, rep := plan.Parse("kismatic-cluster.yaml", data, plan.Options{})
	if rep.Count(2) > 0 {
		t.Fatalf("findings: %v", rep.Findings)
	}
	if got.Mirror.ChecksumsFile != "mirror/SHA256SUMS" {
		t.Errorf("checksums %q", got.Mirror.ChecksumsFile)
	}
	if got.Network.CNIProvider != "bridge" || got.AddOns.DNS || got.Mirror.URL != "http://10.0.2.100:8080" ||
		len(got.Mirror.ImageArchives) != 1 || got.Mirror.ImageArchives[0] != "images/pause-3.10.1.tar" {
		t.Errorf("parsed back: cni %s, dns %v, mirror %+v", got.Network.CNIProvider, got.AddOns.DNS, got.Mirror)
	}
	if s := a.Summary(); !strings.Contains(s, "bridge pod network") {
		t.Errorf("summary %q", s)
	}
}

// TestQEMUPlansGetAnOSTheProviderHasAnImageOf: the qemu provider boots kisgen's Debian
// images, so the interview refuses another os for it (validate would refuse the plan),
// and a plan of debian-13 boots the debian-13 image.
func TestQEMUPlansGetAnOSTheProviderHasAnImageOf(t *testing.T) {
	_, err := Interview(strings.NewReader(""), io.Discard, Options{NonInteractive: true, PlanDir: t.TempDir(),
		Given: map[string]string{"provider": "qemu", "os": "ubuntu-24.04"}})
	if err == nil || !strings.Contains(err.Error(), "qemu provider boots kisgen's images of debian-12 and debian-13") {
		t.Errorf("qemu with ubuntu-24.04: %v", err)
	}
	a, err := Interview(strings.NewReader(""), io.Discard, Options{NonInteractive: true, PlanDir: t.TempDir(),
		Given: map[string]string{"provider": "qemu", "os": "debian-13"}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := a.Plan()
	if p.Provider.QEMU.Image != "debian-13" {
		t.Errorf("provider.qemu.image %q, want debian-13", p.Provider.QEMU.Image)
	}
}
