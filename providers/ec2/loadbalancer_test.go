package ec2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"
	"gopkg.in/amz.v3/ec2/ec2test"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// haPlanTemplate has two masters in two availability zones behind a load balancer name,
// and a third subnet in the first zone (a load balancer takes one subnet per zone).
const haPlanTemplate = `apiVersion: kisgen.io/v1alpha1
kind: ClusterPlan
cluster:
  name: prod
  ssh: {user: kismaticuser, ssh_key: kismaticuser.key}
provider:
  name: aws
  aws:
    region: eu-west-1
    subnet_id: SUBNET_A
    subnet_ids: [SUBNET_B, SUBNET_A2]
    admin_cidrs: [203.0.113.0/24]
    LBSETTINGS
etcd:
  expected_count: 1
  machine: {image: ami-0debian12, type: t3.small}
  nodes:
  - {host: etcd1, ip: 10.20.1.11}
master:
  expected_count: MASTERS
  load_balancer: kubernetes.example.com:6443
  machine: {image: ami-0debian12, type: m6i.large}
  nodes:
  - {host: master1, ip: 10.20.1.21}
  - {host: master2, ip: 10.20.2.22}
MASTER3worker:
  expected_count: 1
  machine: {image: ami-0debian12, type: m6i.large}
  nodes:
  - {host: worker1, ip: 10.20.3.31}
`

// haSubnets are the test VPC's subnets: a and a2 in zone a, b in zone b.
type haSubnets struct{ a, b, a2, vpc string }

// setupHA makes a VPC with three subnets in two zones and returns the fake and the
// plan's text for them.
func setupHA(t *testing.T) (*fakeAWS, haSubnets) {
	t.Helper()
	f := newFakeAWS(t)
	c, err := f.provider().clients(context.Background(), fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	vpc, err := c.ec2.CreateVpc(ctx, &ec2sdk.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sub := func(cidr, zone string) string {
		out, err := c.ec2.CreateSubnet(ctx, &ec2sdk.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(cidr), AvailabilityZone: aws.String(zone)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Subnet.SubnetId)
	}
	s := haSubnets{a: sub("10.20.1.0/24", fakeRegion+"a"), b: sub("10.20.2.0/24", fakeRegion+"b"), a2: sub("10.20.3.0/24", fakeRegion+"a"), vpc: aws.ToString(vpc.Vpc.VpcId)}
	f.mu.Lock()
	f.actions = nil
	f.mu.Unlock()
	return f, s
}

type haOpts struct {
	lbSettings string // the provider.aws.load_balancer line, e.g. "load_balancer: {scheme: internet-facing}"
	master3    bool   // a third master, in zone b
}

func haPlan(t *testing.T, s haSubnets, o haOpts) *plan.Plan {
	t.Helper()
	masters, master3 := "2", ""
	if o.master3 {
		masters, master3 = "3", "  - {host: master3, ip: 10.20.2.23}\n"
	}
	yaml := strings.NewReplacer("SUBNET_A2", s.a2, "SUBNET_A", s.a, "SUBNET_B", s.b, "LBSETTINGS", o.lbSettings, "MASTERS", masters, "MASTER3", master3).Replace(haPlanTemplate)
	p, rep := plan.Parse("plan.yaml", []byte(yaml), plan.Options{})
	if p == nil || rep.IsFatal(false) {
		t.Fatalf("plan: %v\n%s", rep.Findings, yaml)
	}
	return p
}

// apiLB reads the cluster's load balancer, target group, listeners and targets back
// through the API, as a user would.
type apiLBView struct {
	lb        elbtypes.LoadBalancer
	lbAttrs   map[string]string
	tg        elbtypes.TargetGroup
	tgAttrs   map[string]string
	listeners []elbtypes.Listener
	targets   []string // instance ids, sorted
}

func readAPILB(t *testing.T, f *fakeAWS) apiLBView {
	t.Helper()
	ctx := context.Background()
	c, _ := f.provider().clients(ctx, fakeRegion)
	var v apiLBView
	lbs, err := c.elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"kisgen-prod-api"}})
	if err != nil || len(lbs.LoadBalancers) != 1 {
		t.Fatalf("load balancer kisgen-prod-api: %v", err)
	}
	v.lb = lbs.LoadBalancers[0]
	la, err := c.elb.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: v.lb.LoadBalancerArn})
	if err != nil {
		t.Fatal(err)
	}
	v.lbAttrs = map[string]string{}
	for _, a := range la.Attributes {
		v.lbAttrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	tgs, err := c.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{"kisgen-prod-api"}})
	if err != nil || len(tgs.TargetGroups) != 1 {
		t.Fatalf("target group kisgen-prod-api: %v", err)
	}
	v.tg = tgs.TargetGroups[0]
	ta, err := c.elb.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: v.tg.TargetGroupArn})
	if err != nil {
		t.Fatal(err)
	}
	v.tgAttrs = map[string]string{}
	for _, a := range ta.Attributes {
		v.tgAttrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	ls, err := c.elb.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: v.lb.LoadBalancerArn})
	if err != nil {
		t.Fatal(err)
	}
	v.listeners = ls.Listeners
	h, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: v.tg.TargetGroupArn})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range h.TargetHealthDescriptions {
		v.targets = append(v.targets, aws.ToString(d.Target.Id))
	}
	sort.Strings(v.targets)
	return v
}

func idsOf(ins []providers.Instance, hosts ...string) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, idOf(ins, h))
	}
	sort.Strings(out)
	return out
}

// groupIDs are the cluster's security groups by name.
func groupIDs(t *testing.T, f *fakeAWS) map[string]string {
	t.Helper()
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
	return ids
}

// TestProvisionPutsTheMastersBehindANetworkLoadBalancer: with two masters, provision
// creates an internal Network Load Balancer in one subnet per zone, a TCP target group on
// 6443 checked with HTTPS /readyz that holds both masters' instances, a TCP listener on
// the plan's port, and the security group rules between them; each node is launched in
// the subnet of its address, and provision says which DNS record to create.
func TestProvisionPutsTheMastersBehindANetworkLoadBalancer(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	state := t.TempDir()
	var progress bytes.Buffer
	got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatalf("Provision: %v\n%s", err, progress.String())
	}
	sgs := groupIDs(t, f)
	v := readAPILB(t, f)

	var zones []string
	for _, z := range v.lb.AvailabilityZones {
		zones = append(zones, aws.ToString(z.ZoneName)+"="+aws.ToString(z.SubnetId))
	}
	sort.Strings(zones)
	if want := []string{fakeRegion + "a=" + s.a, fakeRegion + "b=" + s.b}; !cmp.Equal(want, zones) {
		t.Errorf("load balancer in %v, want %v (one subnet per zone, the first the plan lists)", zones, want)
	}
	if v.lb.Type != elbtypes.LoadBalancerTypeEnumNetwork || v.lb.Scheme != elbtypes.LoadBalancerSchemeEnumInternal || aws.ToString(v.lb.VpcId) != s.vpc {
		t.Errorf("load balancer %s %s in %s, want an internal network one in %s", v.lb.Scheme, v.lb.Type, aws.ToString(v.lb.VpcId), s.vpc)
	}
	if want := []string{sgs["kisgen-prod-api-lb"]}; !cmp.Equal(want, v.lb.SecurityGroups) {
		t.Errorf("load balancer's security groups %v, want %v", v.lb.SecurityGroups, want)
	}
	if v.lbAttrs["load_balancing.cross_zone.enabled"] != "true" {
		t.Errorf("cross-zone load balancing is off: %v", v.lbAttrs)
	}
	tg := v.tg
	hc := fmt.Sprintf("%s %d %s %s %s %d/%d %d/%d %s", tg.Protocol, aws.ToInt32(tg.Port), tg.TargetType, tg.HealthCheckProtocol, aws.ToString(tg.HealthCheckPath),
		aws.ToInt32(tg.HealthCheckIntervalSeconds), aws.ToInt32(tg.HealthCheckTimeoutSeconds), aws.ToInt32(tg.HealthyThresholdCount), aws.ToInt32(tg.UnhealthyThresholdCount), aws.ToString(tg.Matcher.HttpCode))
	if want := "TCP 6443 instance HTTPS /readyz 10/6 2/2 200"; hc != want {
		t.Errorf("target group %q, want %q", hc, want)
	}
	if v.tgAttrs["preserve_client_ip.enabled"] != "false" {
		t.Errorf("client IP preservation is on (a master reaching itself through the load balancer would fail): %v", v.tgAttrs)
	}
	if want := idsOf(got, "master1", "master2"); !cmp.Equal(want, v.targets) {
		t.Errorf("targets %v, want the masters' instances %v", v.targets, want)
	}
	if len(v.listeners) != 1 || aws.ToInt32(v.listeners[0].Port) != 6443 || v.listeners[0].Protocol != elbtypes.ProtocolEnumTcp || !forwardsTo(v.listeners[0], aws.ToString(tg.TargetGroupArn)) {
		t.Errorf("listeners %+v, want one forwarding tcp 6443 to the target group", v.listeners)
	}
	for arn, what := range map[string]string{aws.ToString(v.lb.LoadBalancerArn): "load balancer", aws.ToString(tg.TargetGroupArn): "target group", aws.ToString(v.listeners[0].ListenerArn): "listener"} {
		if tags := f.elbTagMap(arn); tags[TagCluster] != "prod" {
			t.Errorf("%s tags %v, want %s=prod", what, tags, TagCluster)
		}
	}

	// The firewall between clients, the load balancer and the masters.
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	names := map[string]string{}
	for n, id := range sgs {
		names[id] = n
	}
	rules := map[string][]string{}
	out, err := c.ec2.DescribeSecurityGroups(context.Background(), &ec2sdk.DescribeSecurityGroupsInput{GroupIds: []string{sgs["kisgen-prod-master"], sgs["kisgen-prod-api-lb"]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, sg := range out.SecurityGroups {
		for _, perm := range sg.IpPermissions {
			for _, r := range rulesOf(perm, sgs["kisgen-prod"], names) {
				rules[aws.ToString(sg.GroupName)] = append(rules[aws.ToString(sg.GroupName)], r.key())
			}
		}
		sort.Strings(rules[aws.ToString(sg.GroupName)])
	}
	want := map[string][]string{
		"kisgen-prod-master": {"tcp/6443/6443/203.0.113.0/24", "tcp/6443/6443/group kisgen-prod-api-lb"},
		"kisgen-prod-api-lb": {"tcp/6443/6443/", "tcp/6443/6443/203.0.113.0/24"}, // the nodes, the admin ranges
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}

	// Each node in the subnet that holds its address.
	for host, sub := range map[string]string{"etcd1": s.a, "master1": s.a, "master2": s.b, "worker1": s.a2} {
		if got := f.runs[idOf(got, host)].Get("SubnetId"); got != sub {
			t.Errorf("%s launched in %s, want %s", host, got, sub)
		}
	}

	var rec record
	if _, err := providers.LoadRecord(state, Name, &rec); err != nil {
		t.Fatal(err)
	}
	if r := rec.LoadBalancer; r == nil || r.Name != "kisgen-prod-api" || r.ARN != aws.ToString(v.lb.LoadBalancerArn) || r.TargetGroupARN != aws.ToString(tg.TargetGroupArn) ||
		r.ListenerARN != aws.ToString(v.listeners[0].ListenerArn) || r.DNSName != aws.ToString(v.lb.DNSName) || rec.LoadBalancerSecurityGroup != sgs["kisgen-prod-api-lb"] {
		t.Errorf("record %+v", rec)
	}
	for _, s := range []string{
		"load balancer kisgen-prod-api created (network, internal, in " + s.a + " (eu-west-1a), " + s.b + " (eu-west-1b))",
		"target group kisgen-prod-api: registered master1 (", "is " + aws.ToString(v.lb.DNSName),
		`"kubernetes.example.com. 300 IN CNAME ` + aws.ToString(v.lb.DNSName) + `."`, "https://kubernetes.example.com:6443",
	} {
		if !strings.Contains(progress.String(), s) {
			t.Errorf("progress lacks %q:\n%s", s, progress.String())
		}
	}
	if len(f.badSigs) > 0 {
		t.Errorf("bad signatures: %v", f.badSigs)
	}
}

// TestSecondRunDuplicatesNothingOfTheLoadBalancer: a rerun finds the load balancer, its
// target group and listener by name and tag and changes nothing.
func TestSecondRunDuplicatesNothingOfTheLoadBalancer(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	state := t.TempDir()
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	before := len(f.actions)
	var progress bytes.Buffer
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state, Progress: &progress}); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.actions[before:] {
		if strings.HasPrefix(a, "elb:") && !strings.HasPrefix(a, "elb:Describe") {
			t.Errorf("the second run called %s", a)
		}
	}
	lbs, tgs, listeners := f.elbSnapshot()
	if len(lbs) != 1 || len(tgs) != 1 || len(listeners) != 1 || len(tgs[0].targets) != 2 {
		t.Errorf("after two runs: %d load balancers, %d target groups, %d listeners, %d targets", len(lbs), len(tgs), len(listeners), len(tgs[0].targets))
	}
	for _, s := range []string{"load balancer kisgen-prod-api found", "target group kisgen-prod-api found"} {
		if !strings.Contains(progress.String(), s) {
			t.Errorf("progress lacks %q:\n%s", s, progress.String())
		}
	}
}

// TestReplacedAndAddedMastersAreTheTargets: a master whose instance was terminated gets
// a new one, which is registered while the old one is deregistered; a master added to
// the plan is registered too, and the load balancer gains no subnet it has a zone for.
func TestReplacedAndAddedMastersAreTheTargets(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	state := t.TempDir()
	first, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	old := idOf(first, "master2")
	if _, err := c.ec2.TerminateInstances(context.Background(), &ec2sdk.TerminateInstancesInput{InstanceIds: []string{old}}); err != nil {
		t.Fatal(err)
	}
	p = haPlan(t, s, haOpts{master3: true})
	var progress bytes.Buffer
	second, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if idOf(second, "master2") == old {
		t.Fatalf("master2 was not replaced")
	}
	v := readAPILB(t, f)
	if want := idsOf(second, "master1", "master2", "master3"); !cmp.Equal(want, v.targets) {
		t.Errorf("targets %v, want %v (the old master2 %s deregistered)", v.targets, want, old)
	}
	if !strings.Contains(progress.String(), "deregistered "+old) {
		t.Errorf("progress does not say %s was deregistered:\n%s", old, progress.String())
	}
	if n := len(f.calls("elb:SetSubnets")); n != 0 {
		t.Errorf("SetSubnets called %d times: the zones did not change", n)
	}
}

// TestLoadBalancerGainsTheZoneOfANewSubnet: a subnet in a new zone added to the plan is
// added to the load balancer, which keeps its own.
func TestLoadBalancerGainsTheZoneOfANewSubnet(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	state := t.TempDir()
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	zc, err := c.ec2.CreateSubnet(context.Background(), &ec2sdk.CreateSubnetInput{VpcId: aws.String(s.vpc), CidrBlock: aws.String("10.20.4.0/24"), AvailabilityZone: aws.String(fakeRegion + "c")})
	if err != nil {
		t.Fatal(err)
	}
	p.Provider.AWS.SubnetIDs = append(p.Provider.AWS.SubnetIDs, aws.ToString(zc.Subnet.SubnetId))
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	v := readAPILB(t, f)
	if n := len(v.lb.AvailabilityZones); n != 3 {
		t.Errorf("load balancer in %d zones, want 3: %+v", n, v.lb.AvailabilityZones)
	}
}

// TestDestroyRemovesExactlyTheLoadBalancerKisgenCreated: destroy deletes the load
// balancer (its listener with it), the target group and the load balancer's security
// group; a load balancer tagged for the cluster that the record does not name is listed
// and left, and one of someone else is not touched. --from-tags removes the tagged one.
func TestDestroyRemovesExactlyTheLoadBalancerKisgenCreated(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	state := t.TempDir()
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, _ := f.provider().clients(ctx, fakeRegion)
	mk := func(name string, tags []elbtypes.Tag) string {
		out, err := c.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: elbtypes.LoadBalancerTypeEnumNetwork,
			Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: []string{s.b}, Tags: tags})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
	}
	stranger := mk("by-hand", []elbtypes.Tag{{Key: aws.String(TagCluster), Value: aws.String("prod")}})
	other := mk("someone-else", nil)

	err := f.provider().Destroy(ctx, p, providers.Options{StateDir: state})
	if !errors.Is(err, ErrNotRecorded) || !strings.Contains(err.Error(), "load balancer by-hand") {
		t.Fatalf("got %v, want ErrNotRecorded naming load balancer by-hand", err)
	}
	lbs, tgs, listeners := f.elbSnapshot()
	var left []string
	for _, lb := range lbs {
		left = append(left, lb.LoadBalancerArn)
	}
	if want := []string{stranger, other}; !cmp.Equal(want, left) {
		t.Errorf("load balancers left %v, want %v", left, want)
	}
	if len(tgs) != 0 || len(listeners) != 0 {
		t.Errorf("left: %d target groups, %d listeners", len(tgs), len(listeners))
	}
	if sgs := groupIDs(t, f); len(sgs) != 0 {
		t.Errorf("security groups left: %v", sgs)
	}
	var rec record
	if ok, _ := providers.LoadRecord(state, Name, &rec); ok && rec.LoadBalancer != nil {
		t.Errorf("record still names %+v", rec.LoadBalancer)
	}

	if err := f.provider().Destroy(ctx, p, providers.Options{StateDir: t.TempDir(), FromTags: true}); err != nil {
		t.Fatal(err)
	}
	lbs, _, _ = f.elbSnapshot()
	if len(lbs) != 1 || lbs[0].LoadBalancerArn != other {
		t.Errorf("after --from-tags: %+v, want only someone else's", lbs)
	}
}

// TestLoadBalancerNameOfSomeoneElseStopsTheRun: a load balancer named like kisgen's
// without the cluster's tag is not taken over, and nothing is launched.
func TestLoadBalancerNameOfSomeoneElseStopsTheRun(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	c, _ := f.provider().clients(context.Background(), fakeRegion)
	if _, err := c.elb.CreateLoadBalancer(context.Background(), &elbv2.CreateLoadBalancerInput{Name: aws.String("kisgen-prod-api"),
		Type: elbtypes.LoadBalancerTypeEnumNetwork, Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: []string{s.a}}); err != nil {
		t.Fatal(err)
	}
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "load balancer named kisgen-prod-api exists in this region without kisgen's kisgen.io/cluster=prod tag") {
		t.Fatalf("got %v", err)
	}
	if n := len(f.calls("ec2:RunInstances")); n != 0 {
		t.Errorf("%d instances launched", n)
	}
}

// TestLoadBalancerOfAnotherSchemeIsNotReused: AWS cannot change a scheme; provision says
// what to delete.
func TestLoadBalancerOfAnotherSchemeIsNotReused(t *testing.T) {
	f, s := setupHA(t)
	state := t.TempDir()
	if _, err := f.provider().Provision(context.Background(), haPlan(t, s, haOpts{}), machines(haPlan(t, s, haOpts{}), nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	p := haPlan(t, s, haOpts{lbSettings: "load_balancer: {scheme: internet-facing}"})
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state})
	if !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "elbv2 delete-load-balancer") {
		t.Errorf("got %v", err)
	}
}

// TestInternetFacingLoadBalancer: the plan's scheme is the load balancer's.
func TestInternetFacingLoadBalancer(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{lbSettings: "load_balancer: {scheme: internet-facing}"})
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if v := readAPILB(t, f); v.lb.Scheme != elbtypes.LoadBalancerSchemeEnumInternetFacing {
		t.Errorf("scheme %s", v.lb.Scheme)
	}
}

// TestNoLoadBalancerWhereThePlanAsksForNone: one master (auto), or create: never, makes
// no ELB call at all: no new permissions for clusters without one.
func TestNoLoadBalancerWhereThePlanAsksForNone(t *testing.T) {
	t.Run("one master", func(t *testing.T) {
		f, p := setup(t, planOpts{})
		state := t.TempDir()
		if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
			t.Fatal(err)
		}
		if err := f.provider().Destroy(context.Background(), p, providers.Options{StateDir: state}); err != nil {
			t.Fatal(err)
		}
		if calls := f.calls("elb:"); len(calls) != 0 {
			t.Errorf("ELB calls: %v", calls)
		}
	})
	t.Run("create: never", func(t *testing.T) {
		f, s := setupHA(t)
		p := haPlan(t, s, haOpts{lbSettings: "load_balancer: {create: never}"})
		if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		if calls := f.calls("elb:"); len(calls) != 0 {
			t.Errorf("ELB calls: %v", calls)
		}
		if _, ok := groupIDs(t, f)["kisgen-prod-api-lb"]; ok {
			t.Error("a load balancer security group was made")
		}
	})
}

// TestDryRunListsTheLoadBalancer: provision --dry-run says the load balancer and target
// group would be created, then kept; --destroy --dry-run that they would be removed; and
// none of it changes anything.
func TestDryRunListsTheLoadBalancer(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	state := t.TempDir()
	e := f.provider()
	rows := func(destroy bool) map[string]string {
		t.Helper()
		changes, err := providers.Preview(context.Background(), e, p, providers.Options{StateDir: state}, destroy)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range changes {
			if strings.Contains(c.Host, " ") {
				out[c.Host] = strings.TrimSpace(c.Action + " " + c.ID)
			}
		}
		return out
	}
	if diff := cmp.Diff(map[string]string{"load balancer kisgen-prod-api": "create", "target group kisgen-prod-api": "create"}, rows(false)); diff != "" {
		t.Errorf("before (-want +got):\n%s", diff)
	}
	if _, err := e.Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: state}); err != nil {
		t.Fatal(err)
	}
	v := readAPILB(t, f)
	calls := len(f.actions)
	if diff := cmp.Diff(map[string]string{"load balancer kisgen-prod-api": "keep " + aws.ToString(v.lb.LoadBalancerArn), "target group kisgen-prod-api": "keep " + aws.ToString(v.tg.TargetGroupArn)}, rows(false)); diff != "" {
		t.Errorf("after provision (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"load balancer kisgen-prod-api": "remove " + aws.ToString(v.lb.LoadBalancerArn), "target group kisgen-prod-api": "remove " + aws.ToString(v.tg.TargetGroupArn)}, rows(true)); diff != "" {
		t.Errorf("destroy (-want +got):\n%s", diff)
	}
	for _, a := range f.actions[calls:] {
		if !strings.HasPrefix(a, "ec2:Describe") && !strings.HasPrefix(a, "elb:Describe") {
			t.Errorf("the preview called %s", a)
		}
	}
}

// TestLoadBalancerCallsAreRetried: ELB's throttling and server errors are retried like
// EC2's, and a retried create makes one load balancer.
func TestLoadBalancerCallsAreRetried(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	f.failNext("elb:CreateLoadBalancer", 3, 400, "Throttling")
	f.failNext("elb:CreateTargetGroup", 2, 503, "ServiceUnavailable")
	f.failNext("elb:RegisterTargets", 3, 500, "InternalFailure")
	if _, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	lbs, tgs, _ := f.elbSnapshot()
	if len(lbs) != 1 || len(tgs) != 1 || len(tgs[0].targets) != 2 {
		t.Errorf("%d load balancers, %d target groups", len(lbs), len(tgs))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, q := range f.failures {
		if len(q) > 0 {
			t.Errorf("%d injected failures of %s never met", len(q), k)
		}
	}
}

// TestLoadBalancerAddressMustBeAName: provision aws refuses, before any call, an
// address the certificates cannot have for a load balancer that does not exist yet,
// even for a plan whose provider is not aws (validate's rule covers those that are).
func TestLoadBalancerAddressMustBeAName(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	p.LoadBalancer = "10.20.1.5"
	p.Provider.Name = "qemu"
	rep := providers.Check(f.provider(), p, providers.Options{})
	if len(rep.Findings) != 1 || rep.Findings[0].Path != "master.load_balancer" {
		t.Errorf("findings %+v", rep.Findings)
	}
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "master.load_balancer") {
		t.Errorf("got %v", err)
	}
	if f.actions != nil {
		t.Errorf("calls made: %v", f.actions)
	}
}

// TestRoutedPodTrafficAcrossSubnetsIsRefused: unwrapped pod traffic between subnets has
// no route in the VPC.
func TestRoutedPodTrafficAcrossSubnetsIsRefused(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	p.Network.Mode = plan.ModeRouted
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if !errors.Is(err, providers.ErrSetting) || !strings.Contains(err.Error(), "Calico routed pod traffic needs every node in one subnet") {
		t.Errorf("got %v", err)
	}
	if n := len(f.calls("ec2:RunInstances")); n != 0 {
		t.Errorf("%d instances launched", n)
	}
}

// TestNodeOutsideEveryPlanSubnetIsNamed lists the subnets the node could have been in.
func TestNodeOutsideEveryPlanSubnetIsNamed(t *testing.T) {
	f, s := setupHA(t)
	p := haPlan(t, s, haOpts{})
	p.Node("worker1").InternalIP = netip.MustParseAddr("10.20.9.31")
	_, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "node worker1: internal ip 10.20.9.31 is in none of the plan's subnets: "+s.a+" (eu-west-1a, 10.20.1.0/24)") {
		t.Errorf("got %v", err)
	}
}

func TestLoadBalancerName(t *testing.T) {
	long := strings.Repeat("a", 40)
	tests := []struct{ cluster, want string }{
		{"prod", "kisgen-prod-api"},
		{strings.Repeat("x", 21), "kisgen-" + strings.Repeat("x", 21) + "-api"}, // 32 exactly
	}
	for _, tt := range tests {
		if got := LoadBalancerName(tt.cluster); got != tt.want {
			t.Errorf("LoadBalancerName(%q) = %q, want %q", tt.cluster, got, tt.want)
		}
	}
	valid := regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	seen := map[string]string{}
	for _, c := range []string{long, long + "b", strings.Repeat("x", 22), strings.Repeat("a-", 31) + "a", "kisgen-" + long} {
		n := LoadBalancerName(c)
		if len(n) > 32 || !valid.MatchString(n) || strings.HasPrefix(n, "internal-") {
			t.Errorf("LoadBalancerName(%q) = %q: ELB refuses it", c, n)
		}
		if prev, dup := seen[n]; dup {
			t.Errorf("clusters %q and %q share the load balancer name %q", prev, c, n)
		}
		seen[n] = c
	}
}

// TestFakeHoldsTheProviderToELBLimits: the fake refuses what ELB refuses, so that the
// tests above prove the provider stays within ELB's rules.
func TestFakeHoldsTheProviderToELBLimits(t *testing.T) {
	f, s := setupHA(t)
	ctx := context.Background()
	c, _ := f.provider().clients(ctx, fakeRegion)
	lb := func(name string, subnets ...string) error {
		_, err := c.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Type: elbtypes.LoadBalancerTypeEnumNetwork,
			Scheme: elbtypes.LoadBalancerSchemeEnumInternal, Subnets: subnets})
		return err
	}
	if err := lb(strings.Repeat("a", 33), s.a); !isCode(err, "ValidationError") {
		t.Errorf("a 33-character name: %v", err)
	}
	if err := lb("internal-x", s.a); !isCode(err, "ValidationError") {
		t.Errorf("a name starting internal-: %v", err)
	}
	if err := lb("two-in-a", s.a, s.a2); !isCode(err, "InvalidConfigurationRequest") {
		t.Errorf("two subnets in one zone: %v", err)
	}
	if err := lb("nowhere", "subnet-404"); !isCode(err, "SubnetNotFound") {
		t.Errorf("a subnet that does not exist: %v", err)
	}
	if err := lb("one", s.a); err != nil {
		t.Fatal(err)
	}
	if err := lb("one", s.a); err != nil {
		t.Errorf("the same create again (ELB's creates are idempotent): %v", err)
	}
	if err := lb("one", s.b); !isCode(err, "DuplicateLoadBalancerName") {
		t.Errorf("the same name, other settings: %v", err)
	}
	_, err := c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("no-port"), Protocol: elbtypes.ProtocolEnumTcp, VpcId: aws.String(s.vpc)})
	if !isCode(err, "ValidationError") {
		t.Errorf("a target group without a port: %v", err)
	}
	_, err = c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("http"), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: aws.String(s.vpc)})
	if !isCode(err, "ValidationError") {
		t.Errorf("an HTTP target group for a network load balancer: %v", err)
	}
	_, err = c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("path"), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(80), VpcId: aws.String(s.vpc),
		HealthCheckProtocol: elbtypes.ProtocolEnumTcp, HealthCheckPath: aws.String("/readyz")})
	if !isCode(err, "ValidationError") {
		t.Errorf("a path with a TCP health check: %v", err)
	}
	tg, err := c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String("tg"), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(6443), VpcId: aws.String(s.vpc)})
	if err != nil {
		t.Fatal(err)
	}
	arn := tg.TargetGroups[0].TargetGroupArn
	stopped := f.inner.NewInstancesVPC(s.vpc, s.a, 1, "t3.small", "ami-0debian12", ec2test.Stopped, nil)
	elsewhere := f.inner.NewInstancesVPC("vpc-other", "", 1, "t3.small", "ami-0debian12", ec2test.Running, nil)
	for what, ids := range map[string][]string{"a stopped instance": stopped, "an instance of another VPC": elsewhere, "no instance": {"i-404"}} {
		_, err := c.elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: arn, Targets: []elbtypes.TargetDescription{{Id: aws.String(ids[0])}}})
		if !isCode(err, "InvalidTarget") {
			t.Errorf("registering %s: %v", what, err)
		}
	}
	arns := slices.Repeat([]string{aws.ToString(arn)}, 21)
	if _, err := c.elb.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns}); !isCode(err, "ValidationError") {
		t.Errorf("DescribeTags of 21 resources: %v", err)
	}
}
