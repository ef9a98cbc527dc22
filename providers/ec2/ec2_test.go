package ec2

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	ignconfig "github.com/coreos/ignition/v2/config"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/amz.v3/ec2/ec2test"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

const planTemplate = `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: prod
  ssh:
    user: kismaticuser
    ssh_key: kismaticuser.key
provider:
  name: aws
  aws:
    region: eu-west-1
    subnet_id: SUBNET
    key_name: ops
    admin_cidrs: [203.0.113.0/24, 198.51.100.7/32]
    secrets: SECRETS
    secrets_bucket: kisgen-secrets
    instance_profile: kisgen-node
etcd:
  expected_count: 1
  os: ETCDOS
  machine: {image: IMAGE, type: t3.small, disk_gb: 20}
  nodes:
  - {host: etcd1, ip: 10.20.0.11}
master:
  expected_count: 1
  machine: {image: ami-0debian12, type: m6i.large, disk_gb: 50}
  nodes:
  - {host: master1, ip: 10.20.0.21}
worker:
  expected_count: 1
  machine: {image: ami-0debian12, type: m6i.xlarge}
  nodes:
  - {host: worker1, ip: 10.20.0.31}
`

type planOpts struct {
	secrets string
	etcdOS  string
}

// setup returns a fake AWS with a VPC and subnet, and a plan of three nodes in it.
func setup(t *testing.T, o planOpts) (*fakeAWS, *plan.Plan) {
	t.Helper()
	f := newFakeAWS(t)
	e := f.provider()
	c, err := e.clients(context.Background(), fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	vpc, err := c.ec2.CreateVpc(context.Background(), &ec2sdk.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.ec2.CreateSubnet(context.Background(), &ec2sdk.CreateSubnetInput{
		VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String("10.20.0.0/24"), AvailabilityZone: aws.String("us-east-1c"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.secrets == "" {
		o.secrets = "inline"
	}
	if o.etcdOS == "" {
		o.etcdOS = "debian-12"
	}
	image := "ami-0debian12"
	if o.etcdOS == "flatcar" {
		image = "ami-0flatcar"
	}
	yaml := strings.NewReplacer("SUBNET", aws.ToString(sub.Subnet.SubnetId), "SECRETS", o.secrets, "ETCDOS", o.etcdOS, "IMAGE", image).Replace(planTemplate)
	p, rep := plan.Parse("plan.yaml", []byte(yaml), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	f.mu.Lock()
	f.actions = nil // the set-up calls are not the provider's
	f.mu.Unlock()
	return f, p
}

// cloudConfig is a cloud-config of about size bytes; random makes it incompressible.
func cloudConfig(host string, size int, random bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#cloud-config\nhostname: %s\nwrite_files:\n- path: /etc/kisgen/key.pem\n  permissions: '0600'\n  content: |\n", host)
	for b.Len() < size {
		line := make([]byte, 48)
		if random {
			_, _ = rand.Read(line)
		} else {
			copy(line, "kisgen kisgen kisgen kisgen kisgen kisgen kisgen")
		}
		fmt.Fprintf(&b, "    %s\n", base64.StdEncoding.EncodeToString(line))
	}
	return b.Bytes()
}

func ignitionConfig(size int) []byte {
	pad := strings.Repeat("a", max(size-200, 0))
	return []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/kisgen/pad","mode":384,"contents":{"source":"data:,` + pad + `"}}]}}`)
}

func randomIgnition(size int) []byte {
	pad := make([]byte, size*3/4)
	_, _ = rand.Read(pad)
	return []byte(`{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/kisgen/pad","contents":{"source":"data:;base64,` + base64.StdEncoding.EncodeToString(pad) + `"}}]}}`)
}

func machines(p *plan.Plan, data map[string][]byte) []providers.Machine {
	var out []providers.Machine
	for _, n := range p.Nodes {
		d, ok := data[n.Host]
		if !ok {
			d = cloudConfig(n.Host, 3000, true)
		}
		out = append(out, providers.Machine{Node: n, UserData: d, Format: n.Group.Format})
	}
	return out
}

func gunzipIf(b []byte) []byte {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b
	}
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	out, _ := io.ReadAll(r)
	return out
}

func TestProvisionLaunchesEachNodeWithItsUserDataAndSettings(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	data := map[string][]byte{
		"etcd1":   cloudConfig("etcd1", 3000, true),
		"master1": cloudConfig("master1", 40000, false), // compressible: gzip brings it under 16 KiB
		"worker1": cloudConfig("worker1", 16000, true),
	}
	var progress bytes.Buffer
	got, err := f.provider().Provision(context.Background(), p, machines(p, data), providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatalf("Provision: %v\n%s", err, progress.String())
	}
	if len(got) != 3 {
		t.Fatalf("got %d instances, want 3: %+v", len(got), got)
	}
	want := map[string]struct{ ip, ami, itype, disk string }{
		"etcd1":   {"10.20.0.11", "ami-0debian12", "t3.small", "20"},
		"master1": {"10.20.0.21", "ami-0debian12", "m6i.large", "50"},
		"worker1": {"10.20.0.31", "ami-0debian12", "m6i.xlarge", ""},
	}
	for _, in := range got {
		w := want[in.Host]
		if !in.Created || in.State != "running" || in.PrivateIP != w.ip {
			t.Errorf("%s: got %+v, want created, running, private ip %s", in.Host, in, w.ip)
		}
		form := f.runs[in.ID]
		checks := map[string]string{
			"ImageId": w.ami, "InstanceType": w.itype, "PrivateIpAddress": w.ip, "SubnetId": p.Provider.AWS.SubnetID,
			"KeyName": "ops", "MetadataOptions.HttpTokens": "required", "MetadataOptions.HttpPutResponseHopLimit": "1",
			"MetadataOptions.HttpEndpoint": "enabled", "IamInstanceProfile.Name": "kisgen-node",
			"BlockDeviceMapping.1.Ebs.VolumeSize": w.disk, "MinCount": "1", "MaxCount": "1",
		}
		for k, v := range checks {
			if form.Get(k) != v {
				t.Errorf("%s: RunInstances %s = %q, want %q", in.Host, k, form.Get(k), v)
			}
		}
		if w.disk != "" && (form.Get("BlockDeviceMapping.1.Ebs.Encrypted") != "true" || form.Get("BlockDeviceMapping.1.DeviceName") != "/dev/xvda") {
			t.Errorf("%s: root volume not encrypted on the AMI's root device: %v", in.Host, form)
		}
		// The user-data that reached the server decodes to the rendered bytes.
		ud := f.inner.Instance(in.ID).UserData
		if len(ud) > MaxUserData {
			t.Errorf("%s: %d bytes of user-data sent, EC2 takes %d", in.Host, len(ud), MaxUserData)
		}
		if diff := cmp.Diff(string(data[in.Host]), string(gunzipIf(ud))); diff != "" {
			t.Errorf("%s: user-data on the server differs from the rendered one (-want +got):\n%s", in.Host, diff)
		}
	}
	if ud := f.inner.Instance(idOf(got, "master1")).UserData; ud[0] != 0x1f {
		t.Errorf("master1's 40 kB user-data was not gzip-compressed")
	}
	if ud := f.inner.Instance(idOf(got, "etcd1")).UserData; ud[0] == 0x1f {
		t.Errorf("etcd1's small user-data was compressed though it fits")
	}

	// Tags, read back through the API with the filters kisgen uses.
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	found, err := findInstances(context.Background(), c.ec2, "prod")
	if err != nil {
		t.Fatal(err)
	}
	for host, in := range found {
		wantTags := map[string]string{"Name": "prod-" + host, TagCluster: "prod", TagHost: host, TagRoles: string(p.Node(host).Roles[0])}
		gotTags := map[string]string{}
		for _, tg := range in.Tags {
			gotTags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if diff := cmp.Diff(wantTags, gotTags); diff != "" {
			t.Errorf("%s: tags (-want +got):\n%s", host, diff)
		}
		if in.MetadataOptions == nil || in.MetadataOptions.HttpTokens != types.HttpTokensStateRequired {
			t.Errorf("%s: IMDSv2 not required: %+v", host, in.MetadataOptions)
		}
	}
	if len(found) != 3 {
		t.Errorf("found %d tagged instances, want 3", len(found))
	}

	// What was created is recorded.
	var rec record
	if ok, err := providers.LoadRecord(state, Name, &rec); !ok || err != nil {
		t.Fatalf("record: %v %v", ok, err)
	}
	for _, in := range got {
		if rec.Nodes[in.Host] == nil || rec.Nodes[in.Host].InstanceID != in.ID || rec.Nodes[in.Host].ClientToken == "" {
			t.Errorf("%s: record %+v, want instance %s and a client token", in.Host, rec.Nodes[in.Host], in.ID)
		}
	}
	if rec.SecurityGroup == "" || rec.Cluster != "prod" || rec.Region != fakeRegion {
		t.Errorf("record %+v", rec)
	}
	for _, s := range []string{"secrets mode inline", "master1: launched", "gzip-compressed", "security group kisgen-prod"} {
		if !strings.Contains(progress.String(), s) {
			t.Errorf("progress lacks %q:\n%s", s, progress.String())
		}
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

func TestSecondRunCreatesNothing(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	ms := machines(p, nil)
	first, err := f.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	before := len(f.calls("ec2:RunInstances"))
	rules := len(f.calls("ec2:AuthorizeSecurityGroupIngress"))
	second, err := f.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.calls("ec2:RunInstances")) - before; n != 0 {
		t.Errorf("second run called RunInstances %d times", n)
	}
	if n := len(f.calls("ec2:AuthorizeSecurityGroupIngress")) - rules; n != 0 {
		t.Errorf("second run added firewall rules %d times", n)
	}
	if n, want := len(f.calls("ec2:CreateSecurityGroup")), len(Firewall(p)); n != want {
		t.Errorf("CreateSecurityGroup called %d times over two runs, want %d (the cluster's group and one per role)", n, want)
	}
	for i := range first {
		if second[i].ID != first[i].ID || second[i].Created {
			t.Errorf("second run: %+v, want %s found, not created", second[i], first[i].ID)
		}
	}
}

func TestRunAfterAFailureFinishesTheJob(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	ms := machines(p, nil)
	// Another instance holds worker1's address: its launch fails, the others go on.
	f.mu.Lock()
	f.ips["10.20.0.31"] = "i-someone-else"
	f.mu.Unlock()
	got, err := f.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	var ne *providers.NodeError
	if !errors.As(err, &ne) || ne.Host != "worker1" || !strings.Contains(err.Error(), "InvalidIPAddress.InUse") {
		t.Fatalf("got %v, want worker1's launch to fail with InvalidIPAddress.InUse", err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d instances, want the 2 that could launch", len(got))
	}
	f.mu.Lock()
	delete(f.ips, "10.20.0.31")
	f.mu.Unlock()
	runs := len(f.calls("ec2:RunInstances"))
	got, err = f.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.calls("ec2:RunInstances")) - runs; n != 1 {
		t.Errorf("the second run launched %d instances, want only worker1", n)
	}
	created := 0
	for _, in := range got {
		if in.Created {
			created++
			if in.Host != "worker1" {
				t.Errorf("%s created again", in.Host)
			}
		}
	}
	if created != 1 || len(got) != 3 {
		t.Errorf("got %+v", got)
	}
}

func TestClientTokenSurvivesACrashBetweenLaunchAndRecord(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	ms := machines(p, nil)
	if _, err := f.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash after RunInstances but before the instance was recorded, and an
	// EC2 whose DescribeInstances does not show the new instance yet: the token saved
	// before the call makes the retry return the same instance.
	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	id := rec.Nodes["master1"].InstanceID
	rec.Nodes["master1"].InstanceID = ""
	if err := providers.SaveRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	e := f.provider()
	c, _ := e.clients(context.Background(), fakeRegion)
	l, err := e.prepare(p, ms[1:2], fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{stateDir: state, rec: rec}
	in, err := e.provisionNode(context.Background(), c, p, l[0], securityGroups{cluster: rec.SecurityGroup, roles: rec.RoleSecurityGroups}, types.Instance{}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != id {
		t.Errorf("retry launched %s, want the first launch's %s back", in.ID, id)
	}
	if n := len(f.inner.Instance(id).UserData); n == 0 {
		t.Error("lost user-data")
	}
}

func TestUserDataTooLargeIsRefusedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name   string
		etcdOS string
		data   []byte
		remedy string
	}{
		{"incompressible cloud-config", "debian-12", cloudConfig("etcd1", 30000, true), "secrets to s3 or ssm"},
		{"incompressible Ignition config", "flatcar", randomIgnition(30000), "Ignition then fetches its config from an s3:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, p := setup(t, planOpts{etcdOS: tt.etcdOS})
			_, err := f.provider().Provision(context.Background(), p, machines(p, map[string][]byte{"etcd1": tt.data}), providers.Options{StateDir: t.TempDir()})
			if !errors.Is(err, providers.ErrUserDataTooLarge) {
				t.Fatalf("got %v, want ErrUserDataTooLarge", err)
			}
			for _, s := range []string{"etcd1", fmt.Sprint(len(tt.data)), "16384", tt.remedy} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if f.actions != nil {
				t.Errorf("API calls made before refusing: %v", f.actions)
			}
		})
	}
}

func TestLargeIgnitionConfigTravelsAsACompressedDataURL(t *testing.T) {
	f, p := setup(t, planOpts{etcdOS: "flatcar"})
	raw := ignitionConfig(60000)
	got, err := f.provider().Provision(context.Background(), p, machines(p, map[string][]byte{"etcd1": raw}), providers.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sent := f.inner.Instance(idOf(got, "etcd1")).UserData
	cfg, rep, err := ignconfig.Parse(sent)
	if err != nil {
		t.Fatalf("Ignition rejects the stub: %v\n%s", err, rep)
	}
	src := aws.ToString(cfg.Ignition.Config.Replace.Source)
	if aws.ToString(cfg.Ignition.Config.Replace.Compression) != "gzip" || !strings.HasPrefix(src, "data:;base64,") {
		t.Fatalf("stub replace = %+v", cfg.Ignition.Config.Replace)
	}
	gz, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gunzipIf(gz), raw) {
		t.Error("the data URL does not decode to the rendered Ignition config")
	}
}

// withIngressAndLoadBalancer is the test plan with an ingress node and a load balancer
// address that no node has.
func withIngressAndLoadBalancer(t *testing.T, p *plan.Plan, extra ...string) *plan.Plan {
	t.Helper()
	r := []string{"SUBNET", p.Provider.AWS.SubnetID, "SECRETS", "inline", "ETCDOS", "debian-12", "IMAGE", "ami-0debian12",
		"master:\n  expected_count: 1\n", "master:\n  expected_count: 1\n  load_balancer: 10.20.0.10:6443\n",
		"worker:\n", "ingress:\n  expected_count: 1\n  machine: {image: ami-0debian12, type: m6i.large}\n  nodes:\n  - {host: ingress1, ip: 10.20.0.41}\nworker:\n"}
	p, rep := plan.Parse("plan.yaml", []byte(strings.NewReplacer(append(r, extra...)...).Replace(planTemplate)), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	return p
}

// TestSecurityGroupsHoldExactlyTheGuidesFirewallTable: a group every node is in and one
// per role, each with exactly its part of the Kismatic guide's table, read back through
// the API; each instance is in the cluster group and its role's.
func TestSecurityGroupsHoldExactlyTheGuidesFirewallTable(t *testing.T) {
	f, p := setup(t, planOpts{})
	p = withIngressAndLoadBalancer(t, p)
	got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	out, err := c.ec2.DescribeSecurityGroups(context.Background(), &ec2sdk.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{"prod"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, sg := range out.SecurityGroups {
		ids[aws.ToString(sg.GroupName)] = aws.ToString(sg.GroupId)
	}
	rules := map[string][]string{}
	for _, sg := range out.SecurityGroups {
		rules[aws.ToString(sg.GroupName)] = []string{}
		for _, perm := range sg.IpPermissions {
			for _, r := range rulesOf(perm, ids["kisgen-prod"], nil) {
				rules[aws.ToString(sg.GroupName)] = append(rules[aws.ToString(sg.GroupName)], r.key())
			}
		}
		sort.Strings(rules[aws.ToString(sg.GroupName)])
	}
	want := map[string][]string{
		"kisgen-prod": {
			"4/0/0/",                                                  // IP-in-IP between the nodes: Calico's overlay (the plan's default mode)
			"icmp/-1/-1/",                                             // the guide: ICMP from the nodes…
			"icmp/-1/-1/198.51.100.7/32", "icmp/-1/-1/203.0.113.0/24", // … and the admin ranges
			"tcp/0/65535/", // the guide: all internal traffic, TCP…
			"tcp/22/22/198.51.100.7/32", "tcp/22/22/203.0.113.0/24",
			"udp/0/65535/", // … and UDP
		},
		"kisgen-prod-etcd": {},
		"kisgen-prod-master": {
			"tcp/6443/6443/10.20.0.10/32", // the load balancer
			"tcp/6443/6443/198.51.100.7/32", "tcp/6443/6443/203.0.113.0/24",
		},
		"kisgen-prod-worker": {},
		"kisgen-prod-ingress": {
			"tcp/443/443/198.51.100.7/32", "tcp/443/443/203.0.113.0/24",
			"tcp/80/80/198.51.100.7/32", "tcp/80/80/203.0.113.0/24",
		},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("firewall rules per group (-want +got):\n%s", diff)
	}
	for name, rs := range rules {
		for _, k := range rs {
			if strings.Contains(k, "/8080/") || strings.HasPrefix(k, "-1/") {
				t.Errorf("%s: %s is open", name, k)
			}
		}
	}
	for _, in := range got {
		form := f.runs[in.ID]
		role := string(p.Node(in.Host).Roles[0])
		wantGroups := []string{ids["kisgen-prod"], ids["kisgen-prod-"+role]}
		if gotGroups := indexed(form, "SecurityGroupId"); !cmp.Equal(wantGroups, gotGroups) {
			t.Errorf("%s launched in %v, want %v (the cluster's group and the %s group)", in.Host, gotGroups, wantGroups, role)
		}
	}
}

// TestIngressCIDRsOpenHTTPToTheIngressNodesOnly: ingress_cidrs, when given, is the source
// of 80 and 443 instead of admin_cidrs.
func TestIngressCIDRsOpenHTTPToTheIngressNodesOnly(t *testing.T) {
	f, p := setup(t, planOpts{})
	p = withIngressAndLoadBalancer(t, p, "    key_name: ops\n", "    key_name: ops\n    ingress_cidrs: [0.0.0.0/0]\n")
	var ingress Group
	for _, g := range Firewall(p) {
		if g.Role == plan.RoleIngress {
			ingress = g
		}
	}
	var got []string
	for _, r := range ingress.Rules {
		got = append(got, r.key())
	}
	if want := []string{"tcp/80/80/0.0.0.0/0", "tcp/443/443/0.0.0.0/0"}; !cmp.Equal(want, got) {
		t.Errorf("ingress rules %v, want %v", got, want)
	}
	_ = f
}

// TestRoutedPodTrafficTurnsOffTheSourceDestCheck: with Calico routed, packets between
// nodes carry pod addresses, which EC2 drops unless each instance's source/destination
// check is off; with the overlay they are IP-in-IP between node addresses, and the check
// stays on (and the cluster group allows protocol 4, see the firewall test).
func TestRoutedPodTrafficTurnsOffTheSourceDestCheck(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		wantCheck bool
	}{{"routed", false}, {"overlay", true}} {
		t.Run(tc.mode, func(t *testing.T) {
			f, p := setup(t, planOpts{})
			p = withIngressAndLoadBalancer(t, p, "provider:\n", "add_ons:\n  cni:\n    options:\n      calico:\n        mode: "+tc.mode+"\nprovider:\n")
			if string(p.Network.Mode) != tc.mode {
				t.Fatalf("plan mode %s", p.Network.Mode)
			}
			state := t.TempDir()
			var progress bytes.Buffer
			if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state, Progress: &progress}); err != nil {
				t.Fatal(err)
			}
			c, _ := f.provider().clients(context.Background(), fakeRegion)
			found, err := findInstances(context.Background(), c.ec2, "prod")
			if err != nil {
				t.Fatal(err)
			}
			for host, in := range found {
				if got := aws.ToBool(in.SourceDestCheck); got != tc.wantCheck {
					t.Errorf("%s: source/destination check %v, want %v", host, got, tc.wantCheck)
				}
			}
			if said := strings.Contains(progress.String(), "source/destination check turned off"); said == tc.wantCheck {
				t.Errorf("progress says the check was turned off: %v, want %v:\n%s", said, !tc.wantCheck, progress.String())
			}
			// A second run finds the check off and leaves it.
			calls := len(f.calls("ec2:ModifyInstanceAttribute"))
			if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
				t.Fatal(err)
			}
			if n := len(f.calls("ec2:ModifyInstanceAttribute")) - calls; n != 0 {
				t.Errorf("the second run modified %d instances", n)
			}
		})
	}
}

// TestInstanceOfAnOlderRunJoinsItsRoleGroup: an instance launched when kisgen made one
// group for the cluster is added to its role's group, keeping its groups.
func TestInstanceOfAnOlderRunJoinsItsRoleGroup(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	first, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.groups[idOf(first, "master1")] = []string{rec.SecurityGroup}
	f.mu.Unlock()
	var progress bytes.Buffer
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	got := f.groups[idOf(first, "master1")]
	f.mu.Unlock()
	if want := []string{rec.SecurityGroup, rec.RoleSecurityGroups[plan.RoleMaster]}; !cmp.Equal(want, got) {
		t.Errorf("master1 is in %v, want %v\n%s", got, want, progress.String())
	}
}

func TestFoundInstanceWithoutIMDSv2IsFixed(t *testing.T) {
	f, p := setup(t, planOpts{})
	// An instance from an older run: tagged for the cluster, IMDSv1 allowed.
	ids := f.inner.NewInstancesVPC("", p.Provider.AWS.SubnetID, 1, "t3.small", "ami-0debian12", ec2test.Running, nil)
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	if _, err := c.ec2.CreateTags(context.Background(), &ec2sdk.CreateTagsInput{Resources: ids, Tags: []types.Tag{
		{Key: aws.String(TagCluster), Value: aws.String("prod")}, {Key: aws.String(TagHost), Value: aws.String("etcd1")},
	}}); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir(), Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if id := idOf(got, "etcd1"); id != ids[0] {
		t.Errorf("etcd1 = %s, want the existing %s", id, ids[0])
	}
	md := f.metadata[ids[0]]
	if md.Get("HttpTokens") != "required" || md.Get("HttpPutResponseHopLimit") != "1" {
		t.Errorf("metadata options of the found instance: %v", md)
	}
	if !strings.Contains(progress.String(), "not in kisgen's record") {
		t.Errorf("progress does not say the instance is not kisgen's record:\n%s", progress.String())
	}
}

func TestDestroyRemovesExactlyWhatKisgenCreated(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	// A tagged instance kisgen has no record of (made by hand, or by another state dir).
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	stranger := f.inner.NewInstancesVPC("", p.Provider.AWS.SubnetID, 1, "t3.small", "ami-0debian12", ec2test.Running, nil)
	if _, err := c.ec2.CreateTags(context.Background(), &ec2sdk.CreateTagsInput{Resources: stranger, Tags: []types.Tag{
		{Key: aws.String(TagCluster), Value: aws.String("prod")}, {Key: aws.String(TagHost), Value: aws.String("extra1")},
	}}); err != nil {
		t.Fatal(err)
	}
	// An untagged instance of someone else.
	other := f.inner.NewInstancesVPC("", p.Provider.AWS.SubnetID, 1, "t3.small", "ami-0debian12", ec2test.Running, nil)

	err = f.provider().Destroy(context.Background(), p, providers.Options{StateDir: state})
	if !errors.Is(err, ErrNotRecorded) || !strings.Contains(err.Error(), stranger[0]) {
		t.Fatalf("got %v, want ErrNotRecorded naming %s", err, stranger[0])
	}
	if n := len(f.calls("ec2:TerminateInstances")); n != 1 {
		t.Errorf("TerminateInstances called %d times, want once for the %d recorded instances", n, len(got))
	}
	live, _ := findInstances(context.Background(), c.ec2, "prod")
	if len(live) != 1 || aws.ToString(live["extra1"].InstanceId) != stranger[0] {
		t.Errorf("live after destroy: %v, want only the stranger", live)
	}
	out, _ := c.ec2.DescribeInstances(context.Background(), &ec2sdk.DescribeInstancesInput{InstanceIds: other})
	if s := stateName(out.Reservations[0].Instances[0]); s != "running" {
		t.Errorf("an untagged instance was touched: %s", s)
	}
	sgs, _ := c.ec2.DescribeSecurityGroups(context.Background(), &ec2sdk.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("group-name"), Values: []string{"kisgen-prod"}}}})
	if len(sgs.SecurityGroups) != 0 {
		t.Errorf("security group left: %v", sgs.SecurityGroups)
	}
	if _, err := os.Stat(providers.RecordPath(state, Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left after everything recorded was removed: %v", err)
	}
	// Destroying again is harmless.
	if err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: state}); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("second destroy: %v", err)
	}
}

func TestPlanSettingsMissingAreNamedByPath(t *testing.T) {
	f, p := setup(t, planOpts{})
	p.Provider.AWS.SubnetID = ""
	p.Provider.AWS.AdminCIDRs = nil
	p.Groups[plan.RoleWorker].Machine.Image = ""
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	for _, s := range []string{"provider.aws.subnet_id", "provider.aws.admin_cidrs", "worker.machine.image", "worker1"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name %s", err, s)
		}
	}
	if f.actions != nil {
		t.Errorf("calls made: %v", f.actions)
	}
}

func TestUnknownAMIAndKeyPairAreReportedBeforeLaunching(t *testing.T) {
	f, p := setup(t, planOpts{})
	p.Groups[plan.RoleWorker].Machine.Image = "ami-0missing"
	p.Provider.AWS.KeyName = "nobody"
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "ami-0missing") || !strings.Contains(err.Error(), `"nobody"`) {
		t.Errorf("got %v", err)
	}
	if n := len(f.calls("ec2:RunInstances")); n != 0 {
		t.Errorf("%d instances launched", n)
	}
}

func TestS3ObjectIsStoredEncryptedAndTagged(t *testing.T) {
	f, p := setup(t, planOpts{secrets: "s3"})
	data := map[string][]byte{"etcd1": cloudConfig("etcd1", 30000, true)}
	var progress bytes.Buffer
	got, err := f.provider().Provision(context.Background(), p, machines(p, data), providers.Options{StateDir: t.TempDir(), Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	key := "kisgen-secrets/kisgen/prod/etcd1/user-data"
	if !bytes.Equal(gunzipIf(f.objects[key]), data["etcd1"]) {
		t.Fatalf("object %s does not hold etcd1's user-data", key)
	}
	h := f.objHeaders[key]
	if h.Get("X-Amz-Server-Side-Encryption") != "AES256" || !strings.Contains(h.Get("X-Amz-Tagging"), "kisgen.io%2Fcluster=prod") {
		t.Errorf("object headers: %v", h)
	}
	stub := f.inner.Instance(idOf(got, "etcd1")).UserData
	if !bytes.HasPrefix(stub, []byte("#cloud-boothook\n#!/usr/bin/python3\n")) || bytes.Contains(stub, data["etcd1"][200:300]) {
		t.Errorf("user-data is not the stub:\n%.300s", stub)
	}
	if !strings.Contains(progress.String(), "secrets mode s3") {
		t.Errorf("the secrets mode is not announced:\n%s", progress.String())
	}
	if len(f.badSigs) > 0 {
		t.Errorf("bad signatures: %v", f.badSigs)
	}
	// Each node's object was stored before its instance was launched.
	order := strings.Join(f.actions, " ")
	for _, n := range p.Nodes {
		put := strings.Index(order, "s3:PUT kisgen-secrets/kisgen/prod/"+n.Host+"/")
		run := strings.Index(order, "ec2:RunInstances "+n.InternalIP.String())
		if put < 0 || run < 0 || put > run {
			t.Errorf("%s: launched before its user-data was stored: %s", n.Host, order)
		}
	}
}

func TestSSMParametersAreChunkedSecureStrings(t *testing.T) {
	f, p := setup(t, planOpts{secrets: "ssm"})
	data := map[string][]byte{"master1": cloudConfig("master1", 20000, true)}
	if _, err := f.provider().Provision(context.Background(), p, machines(p, data), providers.Options{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	var joined strings.Builder
	for i := 0; ; i++ {
		prm, ok := f.params[ParameterName("prod", "master1", i)]
		if !ok {
			if i < 2 {
				t.Fatalf("%d parameters for 20 kB, want several", i)
			}
			break
		}
		if prm.Type != "SecureString" || prm.Tags[TagCluster] != "prod" {
			t.Errorf("parameter %d: %+v", i, prm)
		}
		joined.WriteString(prm.Value)
	}
	gz, err := base64.StdEncoding.DecodeString(joined.String())
	if err != nil || !bytes.Equal(gunzipIf(gz), data["master1"]) {
		t.Errorf("parameters do not hold master1's user-data: %v", err)
	}
}

func TestIgnitionWithSSMIsRefusedBeforeAnyCall(t *testing.T) {
	f, p := setup(t, planOpts{secrets: "ssm", etcdOS: "flatcar"})
	_, err := f.provider().Provision(context.Background(), p, machines(p, map[string][]byte{"etcd1": ignitionConfig(2000)}), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, ErrSecretsMode) || !strings.Contains(err.Error(), "etcd1") {
		t.Errorf("got %v", err)
	}
	if f.actions != nil {
		t.Errorf("calls made: %v", f.actions)
	}
}

func TestDestroyDeletesSecretsNodesNeverFetched(t *testing.T) {
	f, p := setup(t, planOpts{secrets: "s3"})
	state := t.TempDir()
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if len(f.objects) != 3 {
		t.Fatalf("%d objects stored, want 3", len(f.objects))
	}
	if err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if len(f.objects) != 0 {
		t.Errorf("objects left after destroy: %v", f.objects)
	}
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	if _, err := c.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("kisgen-secrets"), Key: aws.String("kisgen/prod/etcd1/user-data")}); err == nil {
		t.Error("object still readable")
	}
}

func TestRecordOfAnotherClusterIsRefused(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	if err := providers.SaveRecord(state, Name, &record{Cluster: "other"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
	if !errors.Is(err, providers.ErrBadRecord) {
		t.Errorf("got %v", err)
	}
	if err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: state}); !errors.Is(err, providers.ErrBadRecord) {
		t.Errorf("destroy: %v", err)
	}
}

func TestRecordedInstanceNotYetVisibleByTagIsNotLaunchedTwice(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	ms := machines(p, nil)
	first, err := f.provider().Provision(context.Background(), p, ms, providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	// EC2 answers tag filters a little behind: the next run's search finds nothing, but
	// the record names the instances.
	e := f.provider()
	c, _ := e.clients(context.Background(), fakeRegion)
	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	l, err := e.prepare(p, ms[2:], fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	runs := len(f.calls("ec2:RunInstances"))
	in, err := e.provisionNode(context.Background(), c, p, l[0], securityGroups{cluster: rec.SecurityGroup, roles: rec.RoleSecurityGroups}, types.Instance{}, &recorder{stateDir: state, rec: rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != idOf(first, "worker1") || in.Created || len(f.calls("ec2:RunInstances")) != runs {
		t.Errorf("got %+v, want worker1's %s found by id, nothing launched", in, idOf(first, "worker1"))
	}
}

func TestCredentialsAndEndpointComeFromTheAWSConfigChain(t *testing.T) {
	f, p := setup(t, planOpts{})
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": f.creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY": f.creds.SecretAccessKey, "AWS_SESSION_TOKEN": f.creds.SessionToken,
		"AWS_ENDPOINT_URL": f.srv.URL, "AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_REGION": "",
	} {
		t.Setenv(k, v)
	}
	e := &EC2{PollInterval: time.Millisecond, WaitTimeout: 5 * time.Second} // no LoadConfig: the default chain
	got, err := e.Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %+v", err, got)
	}
	// The region is the plan's.
	for _, form := range f.runs {
		if form.Get("PrivateIpAddress") == "" {
			t.Errorf("RunInstances without a private ip: %v", form)
		}
	}
	p.Provider.AWS.Region = ""
	_, err = e.Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "provider.aws.region") {
		t.Errorf("no region anywhere: %v", err)
	}
}

func BenchmarkInlineUserData(b *testing.B) {
	p, rep := plan.Parse("plan.yaml", []byte(strings.NewReplacer("SUBNET", "subnet-1", "SECRETS", "inline", "ETCDOS", "debian-12", "IMAGE", "ami-0debian12").Replace(planTemplate)), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		b.Fatal(rep.Findings)
	}
	m := providers.Machine{Node: p.Nodes[0], UserData: cloudConfig("etcd1", 40000, false), Format: plan.FormatCloudInit}
	b.SetBytes(int64(len(m.UserData)))
	for i := 0; i < b.N; i++ {
		if _, err := inlineUserData(m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProvisionRecordsWhereVerifyReachesEachInstance runs the provider through
// providers.Provision, as `kisgen provision aws` does, and reads the record back the way
// verify does: every node's instance, reached at its plan ip when the instance holds it
// (etcd1 and worker1, whose ip is their private one) and at its public address when not
// (master1, planned at an address AWS never gave it), with the host key kisgen pinned.
func TestProvisionRecordsWhereVerifyReachesEachInstance(t *testing.T) {
	f, p := setup(t, planOpts{})
	yaml := strings.NewReplacer("SUBNET", p.Provider.AWS.SubnetID, "SECRETS", "inline", "ETCDOS", "debian-12", "IMAGE", "ami-0debian12",
		"{host: master1, ip: 10.20.0.21}", "{host: master1, ip: 198.51.100.21, internal_ip: 10.20.0.21}").Replace(planTemplate)
	p, rep := plan.Parse("plan.yaml", []byte(yaml), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v", rep.Findings)
	}
	state := t.TempDir()
	keys := sshdtest.HostKeyLines(t, "etcd1", "master1", "worker1")
	got, err := providers.Provision(context.Background(), f.provider(), p, machines(p, nil), providers.Options{StateDir: state, HostKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	public := map[string]string{}
	for _, in := range got {
		public[in.Host] = in.PublicIP
	}
	if public["master1"] == "" {
		t.Fatalf("the fake gave master1 no public address: %+v", got)
	}
	rec, err := instances.LoadFor(state, "prod", Name)
	if err != nil {
		t.Fatal(err)
	}
	want := []instances.Instance{
		{Node: "etcd1", Machine: idOf(got, "etcd1"), SSHAddress: "10.20.0.11:22", HostKey: keys["etcd1"]},
		{Node: "master1", Machine: idOf(got, "master1"), SSHAddress: public["master1"] + ":22", HostKey: keys["master1"]},
		{Node: "worker1", Machine: idOf(got, "worker1"), SSHAddress: "10.20.0.31:22", HostKey: keys["worker1"]},
	}
	if d := cmp.Diff(want, rec.Instances, cmpopts.IgnoreFields(instances.Instance{}, "RecordedAt")); d != "" {
		t.Errorf("instances record (-want +got)\n%s", d)
	}

	// Destroying the instances removes the record with them.
	if err := providers.Destroy(context.Background(), f.provider(), p, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := instances.Load(state); !errors.Is(err, instances.ErrNoRecord) {
		t.Errorf("after destroy: %v", err)
	}
}

// TestThrottlingAndServerErrorsAreRetried has the fake throttle and fail calls the way
// AWS does (EC2's RequestLimitExceeded and 5xx, S3's SlowDown, SSM's
// ThrottlingException): every call is retried with backoff, and RunInstances' client
// token keeps its retries from launching a second instance.
func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	type fail struct {
		key    string
		n      int
		status int
		code   string
	}
	tests := []struct {
		name    string
		secrets string
		fails   []fail
	}{
		{"ec2 and s3", "s3", []fail{
			{"ec2:DescribeSubnets", 5, 503, "Unavailable"},
			{"ec2:CreateSecurityGroup", 4, 400, "RequestLimitExceeded"},
			{"ec2:RunInstances", 3, 400, "RequestLimitExceeded"},
			{"ec2:RunInstances", 2, 503, "Unavailable"},
			{"ec2:DescribeInstances", 4, 500, "InternalError"},
			{"s3:PUT", 5, 503, "SlowDown"},
		}},
		{"ssm", "ssm", []fail{
			{"ssm:PutParameter", 4, 400, "ThrottlingException"},
			{"ssm:PutParameter", 1, 500, "InternalServerError"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, p := setup(t, planOpts{secrets: tt.secrets})
			injected := 0
			for _, x := range tt.fails {
				f.failNext(x.key, x.n, x.status, x.code)
				injected += x.n
			}
			// One node at a time: the failures injected for a call all meet the first
			// one, more than the SDK's default 3 attempts would survive.
			e := f.provider()
			e.Concurrency = 1
			var progress bytes.Buffer
			got, err := e.Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir(), Progress: &progress})
			if err != nil {
				t.Fatalf("Provision: %v\n%s", err, progress.String())
			}
			if len(got) != 3 {
				t.Fatalf("got %d instances, want 3", len(got))
			}
			f.mu.Lock()
			left := 0
			for _, q := range f.failures {
				left += len(q)
			}
			launched := len(f.runs)
			f.mu.Unlock()
			if left != 0 {
				t.Errorf("%d injected failures were never met: the calls were not made", left)
			}
			if launched != 3 {
				t.Errorf("%d instances launched for 3 nodes: a retried RunInstances launched again", launched)
			}
		})
	}
}

func TestRetriesEndAndNameTheError(t *testing.T) {
	f, p := setup(t, planOpts{})
	f.failNext("ec2:RunInstances", 100, 400, "RequestLimitExceeded")
	e := f.provider()
	e.MaxAttempts = 2
	_, err := e.Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "RequestLimitExceeded") {
		t.Fatalf("got %v, want the throttling error once the attempts are spent", err)
	}
	if n := len(f.calls("ec2:RunInstances")); n != 2*3 {
		t.Errorf("RunInstances called %d times, want 2 attempts for each of 3 nodes", n)
	}
}

// TestLaunchedInstancesAreWaitedForWhilePending: EC2 (and the fake) answers RunInstances
// with the instance pending and shows it pending for a while; the provider returns each
// node only once its instance runs, with the addresses it has then.
func TestLaunchedInstancesAreWaitedForWhilePending(t *testing.T) {
	f, p := setup(t, planOpts{})
	got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range got {
		if in.State != "running" || in.PrivateIP == "" {
			t.Errorf("%s: %+v, want running with its address", in.Host, in)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, q := range f.states {
		if len(q) != 1 || q[0] != "running" {
			t.Errorf("%s: the fake still had %v to show: the provider stopped polling while it was pending", id, q)
		}
	}
}

func TestStoppedInstancesAreStartedOrReported(t *testing.T) {
	t.Run("recorded, stopped or stopping: started", func(t *testing.T) {
		f, p := setup(t, planOpts{})
		state := t.TempDir()
		first, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
		if err != nil {
			t.Fatal(err)
		}
		// Someone stopped two nodes (one is still stopping).
		f.mu.Lock()
		f.states[idOf(first, "etcd1")] = []string{"stopped"}
		f.states[idOf(first, "worker1")] = []string{"stopping", "stopping", "stopped"}
		f.mu.Unlock()
		var progress bytes.Buffer
		got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state, Progress: &progress})
		if err != nil {
			t.Fatalf("%v\n%s", err, progress.String())
		}
		for _, in := range got {
			if in.State != "running" || in.Created {
				t.Errorf("%s: %+v, want its instance running again, not a new one", in.Host, in)
			}
		}
		if n := len(f.calls("ec2:StartInstances")); n != 2 {
			t.Errorf("StartInstances called %d times, want 2", n)
		}
		for _, s := range []string{idOf(first, "etcd1") + " was stopped: started", idOf(first, "worker1") + " was stopping: started"} {
			if !strings.Contains(progress.String(), s) {
				t.Errorf("progress lacks %q:\n%s", s, progress.String())
			}
		}
	})
	t.Run("not recorded: reported, left alone", func(t *testing.T) {
		f, p := setup(t, planOpts{})
		ids := f.inner.NewInstancesVPC("", p.Provider.AWS.SubnetID, 1, "t3.small", "ami-0debian12", ec2test.Stopped, nil)
		c, _ := f.provider().clients(context.Background(), fakeRegion)
		if _, err := c.ec2.CreateTags(context.Background(), &ec2sdk.CreateTagsInput{Resources: ids, Tags: []types.Tag{
			{Key: aws.String(TagCluster), Value: aws.String("prod")}, {Key: aws.String(TagHost), Value: aws.String("etcd1")},
		}}); err != nil {
			t.Fatal(err)
		}
		_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
		var ne *providers.NodeError
		if !errors.Is(err, ErrStopped) || !errors.As(err, &ne) || ne.Host != "etcd1" || !strings.Contains(err.Error(), ids[0]) {
			t.Fatalf("got %v, want etcd1's stopped %s reported", err, ids[0])
		}
		if n := len(f.calls("ec2:StartInstances")); n != 0 {
			t.Errorf("an instance kisgen has no record of was started")
		}
	})
}

// TestSSMSecretsOfMoreThanTenParametersAreAllDeleted: a node's user-data in 13 SSM
// parameters (DeleteParameters takes at most 10 names) is deleted whole by destroy when
// the node never booted.
func TestSSMSecretsOfMoreThanTenParametersAreAllDeleted(t *testing.T) {
	f, p := setup(t, planOpts{secrets: "ssm"})
	state := t.TempDir()
	data := map[string][]byte{"worker1": cloudConfig("worker1", 100000, true)}
	if _, err := f.provider().Provision(context.Background(), p, machines(p, data), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Nodes["worker1"].SSMParameters); n <= 10 {
		t.Fatalf("worker1's user-data took %d parameters, want more than 10 for this test", n)
	}
	if err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.params) != 0 {
		var left []string
		for k := range f.params {
			left = append(left, k)
		}
		sort.Strings(left)
		t.Errorf("parameters left after destroy: %v", left)
	}
}

// TestFakeHoldsTheProviderToAWSLimits: the fake refuses what AWS refuses, so that the
// tests above prove the provider stays within the limits.
func TestFakeHoldsTheProviderToAWSLimits(t *testing.T) {
	f := newFakeAWS(t)
	c, err := f.provider().clients(context.Background(), fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.ec2.RunInstances(ctx, &ec2sdk.RunInstancesInput{ImageId: aws.String("ami-0debian12"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		UserData: aws.String(base64.StdEncoding.EncodeToString(make([]byte, MaxUserData+1)))})
	if !isCode(err, "InvalidParameterValue") {
		t.Errorf("RunInstances with %d bytes of user-data: %v", MaxUserData+1, err)
	}
	names := make([]string, 11)
	for i := range names {
		names[i] = ParameterName("prod", "etcd1", i)
	}
	if _, err := c.ssm.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: names}); !isCode(err, "ValidationException") {
		t.Errorf("DeleteParameters with 11 names: %v", err)
	}
	if _, err := c.ssm.PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String("/x"), Value: aws.String(strings.Repeat("a", ssmStandard+1)), Type: ssmtypes.ParameterTypeSecureString}); !isCode(err, "ValidationException") {
		t.Errorf("a standard parameter of %d characters: %v", ssmStandard+1, err)
	}
}

// TestSecretsBucketThatWouldKeepOrMissTheUserDataIsRefused: before anything is stored or
// launched, a bucket with versioning enabled (a deleted user-data would stay as a
// noncurrent version) and a bucket in another region (the stubs fetch from the cluster's
// region) are refused.
func TestSecretsBucketThatWouldKeepOrMissTheUserDataIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		bucket fakeBucket
		want   []string
	}{
		{"versioning enabled", fakeBucket{region: fakeRegion, versioning: "Enabled"}, []string{"kisgen-secrets", "keeps versions", "noncurrent"}},
		{"another region", fakeBucket{region: "us-east-1"}, []string{"kisgen-secrets", "us-east-1", fakeRegion}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, p := setup(t, planOpts{secrets: "s3"})
			b := tt.bucket
			f.mu.Lock()
			f.buckets["kisgen-secrets"] = &b
			f.mu.Unlock()
			_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
			if !errors.Is(err, ErrSecretsMode) {
				t.Fatalf("got %v, want ErrSecretsMode", err)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			if n := len(f.calls("s3:PUT")) + len(f.calls("ec2:RunInstances")); n != 0 {
				t.Errorf("%d objects stored or instances launched before refusing", n)
			}
		})
	}
}

// TestDestroyDeletesEveryVersionOfTheSecrets: in a bucket whose versioning was enabled
// once and is suspended now, a node's key holds older versions and delete markers besides
// the object kisgen stored; destroy removes them all.
func TestDestroyDeletesEveryVersionOfTheSecrets(t *testing.T) {
	f, p := setup(t, planOpts{secrets: "s3"})
	ctx := context.Background()
	c, _ := f.provider().clients(ctx, fakeRegion)
	// An earlier era: versioning on, a user-data stored, deleted by the node, stored again.
	f.mu.Lock()
	f.buckets["kisgen-secrets"].versioning = "Enabled"
	f.mu.Unlock()
	key := ObjectKey("prod", "etcd1", plan.FormatCloudInit)
	for i := 0; i < 2; i++ {
		if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("kisgen-secrets"), Key: aws.String(key), Body: strings.NewReader("old secret")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("kisgen-secrets"), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	f.buckets["kisgen-secrets"].versioning = "Suspended"
	f.mu.Unlock()
	state := t.TempDir()
	if _, err := f.provider().Provision(ctx, p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if v := f.versionsOf("kisgen-secrets", "kisgen/prod/etcd1/"); len(v) < 5 {
		t.Fatalf("versions before destroy: %v, want the old ones and the new object", v)
	}
	if err := f.provider().Destroy(ctx, p, providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if v := f.versionsOf("kisgen-secrets", "kisgen/prod/"); len(v) != 0 {
		t.Errorf("left after destroy: %v", v)
	}
}

// TestValidateNamesWhatThePlanLacksForEC2: `kisgen validate` reports, by YAML path and
// position, a group without an AMI or an instance type, without credentials or calls.
func TestValidateNamesWhatThePlanLacksForEC2(t *testing.T) {
	f, p := setup(t, planOpts{})
	p.Groups[plan.RoleWorker].Machine.Image = ""
	p.Groups[plan.RoleEtcd].Machine.Type = ""
	rep := providers.Check(f.provider(), p, providers.Options{})
	var got []string
	for _, fd := range rep.Findings {
		got = append(got, fmt.Sprintf("%d:%d %s: %s", fd.Line, fd.Column, fd.Path, fd.Message))
	}
	want := []string{
		"21:41 etcd.machine.type: the etcd group (etcd1) has no instance type",
		"31:20 worker.machine.image: the worker group (worker1) has no AMI: the aws provider launches machine.image",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if f.actions != nil {
		t.Errorf("calls made: %v", f.actions)
	}
}

// TestInventoryTellsProvisionAndDestroyWhatExists: the dry run against the fake lists
// what a provision would create, keep and start, and what a destroy would remove and
// leave, and changes nothing.
func TestInventoryTellsProvisionAndDestroyWhatExists(t *testing.T) {
	f, p := setup(t, planOpts{})
	state := t.TempDir()
	e := f.provider()
	changes, err := providers.Preview(context.Background(), e, p, providers.Options{StateDir: state}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != providers.ActionCreate {
			t.Errorf("before anything exists: %+v, want create", c)
		}
	}
	first, err := e.Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	// etcd1 was stopped by someone; an instance tagged for a host kisgen never made.
	f.mu.Lock()
	f.states[idOf(first, "etcd1")] = []string{"stopped"}
	f.mu.Unlock()
	c, _ := e.clients(context.Background(), fakeRegion)
	stranger := f.inner.NewInstancesVPC("", p.Provider.AWS.SubnetID, 1, "t3.small", "ami-0debian12", ec2test.Running, nil)
	if _, err := c.ec2.CreateTags(context.Background(), &ec2sdk.CreateTagsInput{Resources: stranger, Tags: []types.Tag{
		{Key: aws.String(TagCluster), Value: aws.String("prod")}, {Key: aws.String(TagHost), Value: aws.String("extra1")},
	}}); err != nil {
		t.Fatal(err)
	}
	calls := len(f.actions)
	changes, err = providers.Preview(context.Background(), e, p, providers.Options{StateDir: state}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range changes {
		got[c.Host] = c.Action + " " + c.ID
	}
	want := map[string]string{
		"etcd1": "start " + idOf(first, "etcd1"), "master1": "keep " + idOf(first, "master1"), "worker1": "keep " + idOf(first, "worker1"),
		"extra1": "leave " + stranger[0],
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("provision preview (-want +got):\n%s", diff)
	}
	changes, err = providers.Preview(context.Background(), e, p, providers.Options{StateDir: state}, true)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]string{}
	for _, c := range changes {
		got[c.Host] = c.Action
	}
	if diff := cmp.Diff(map[string]string{"etcd1": "remove", "master1": "remove", "worker1": "remove", "extra1": "leave"}, got); diff != "" {
		t.Errorf("destroy preview (-want +got):\n%s", diff)
	}
	for _, a := range f.actions[calls:] {
		if !strings.HasPrefix(a, "ec2:Describe") {
			t.Errorf("the preview called %s", a)
		}
	}
}

// TestDestroyFromTagsWhenTheStateDirectoryIsGone: without kisgen's record, destroy lists
// what carries the cluster's tags and leaves it; with FromTags it removes the instances,
// the security groups and the secrets stored under the cluster's name.
func TestDestroyFromTagsWhenTheStateDirectoryIsGone(t *testing.T) {
	for _, mode := range []string{"s3", "ssm"} {
		t.Run(mode, func(t *testing.T) {
			f, p := setup(t, planOpts{secrets: mode})
			state := t.TempDir()
			if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
				t.Fatal(err)
			}
			lost := t.TempDir() // the state directory is gone: a fresh one
			err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: lost})
			if !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("without a record: %v, want ErrNotRecorded", err)
			}
			if n := len(f.calls("ec2:TerminateInstances")); n != 0 {
				t.Fatalf("instances terminated without a record or --from-tags")
			}
			if err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: lost, FromTags: true}); err != nil {
				t.Fatal(err)
			}
			c, _ := f.provider().clients(context.Background(), fakeRegion)
			if live, _ := findInstances(context.Background(), c.ec2, "prod"); len(live) != 0 {
				t.Errorf("instances left: %v", live)
			}
			sgs, _ := c.ec2.DescribeSecurityGroups(context.Background(), &ec2sdk.DescribeSecurityGroupsInput{Filters: []types.Filter{{Name: aws.String("tag:" + TagCluster), Values: []string{"prod"}}}})
			if len(sgs.SecurityGroups) != 0 {
				t.Errorf("%d security groups left", len(sgs.SecurityGroups))
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.params) != 0 || len(f.objects) != 0 {
				t.Errorf("secrets left: %d parameters, %d objects", len(f.params), len(f.objects))
			}
		})
	}
}
