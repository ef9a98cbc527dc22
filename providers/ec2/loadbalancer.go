package ec2

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// The API's Network Load Balancer. With two or more masters (provider.aws.load_balancer)
// provision creates, in front of the masters' API servers:
//
//   - a Network Load Balancer, internal unless the plan asks for internet-facing, in one
//     subnet per availability zone of the plan's subnets, with cross-zone load balancing
//     (a zone whose master is down still answers) and its own security group (firewall.go);
//   - a target group: TCP to port 6443 of the masters' instances, health-checked with
//     HTTPS GET /readyz, which kube-apiserver answers without credentials once it is
//     ready (TLS is not verified by the health checker). Client IP preservation is off:
//     a master's kubelet that dials the API through the load balancer may be sent to its
//     own API server, and with its address preserved the packet would come back to the
//     instance it left, which AWS documents as failing (the hairpin). The masters see the
//     load balancer's addresses instead, admitted by its security group;
//   - a TCP listener on master.load_balancer's port, forwarding to the target group.
//
// All three are tagged like the instances and found again by name and tag; the masters'
// instances are registered once they run, and instances no master of the plan has any
// more (a replaced master) are deregistered. The load balancer's DNS name is known only
// once it exists, while certificates and kubeconfigs name master.load_balancer: that name
// is the user's, pointed at the load balancer by a DNS record provision prints.

const (
	// apiServerPort is kube-apiserver's --secure-port on kisgen's masters.
	apiServerPort = 6443
	// healthCheckPath answers 200 once the API server is ready, to anyone.
	healthCheckPath = "/readyz"
	// Health checks every 10 s, 2 failures take a master out, 2 successes bring it back:
	// about 20 s to notice a dead API server.
	healthCheckInterval = 10
	healthCheckTimeout  = 6
	healthyThreshold    = 2
	unhealthyThreshold  = 2
	// maxELBName is what ELB takes for a load balancer's or target group's name.
	maxELBName = 32
	// describeTagsBatch is how many resources DescribeTags takes at once.
	describeTagsBatch = 20
)

// LoadBalancerName is the name of the cluster's API load balancer and of its target
// group: kisgen-CLUSTER-api, or, where that passes the 32 characters ELB takes, the
// cluster name's start and a hash of all of it.
func LoadBalancerName(cluster string) string {
	name := "kisgen-" + cluster + "-api"
	if len(name) <= maxELBName {
		return name
	}
	sum := sha256.Sum256([]byte(cluster))
	const suffix = "-api"
	hash := hex.EncodeToString(sum[:])[:8]
	prefix := ("kisgen-" + cluster)[:maxELBName-len(suffix)-len(hash)-1]
	return strings.TrimRight(prefix, "-") + "-" + hash + suffix
}

// lbRecord is what kisgen created for the API's load balancer, in its record.
type lbRecord struct {
	Name           string `json:"name"`
	ARN            string `json:"arn,omitempty"`
	DNSName        string `json:"dnsName,omitempty"`
	ListenerARN    string `json:"listenerArn,omitempty"`
	TargetGroupARN string `json:"targetGroupArn,omitempty"`
}

func (r *recorder) loadBalancer() lbRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rec.LoadBalancer == nil {
		return lbRecord{}
	}
	return *r.rec.LoadBalancer
}

func (r *recorder) updateLB(fn func(*lbRecord)) error {
	return r.update(func(rec *record) {
		if rec.LoadBalancer == nil {
			rec.LoadBalancer = &lbRecord{}
		}
		fn(rec.LoadBalancer)
		if l := rec.LoadBalancer; l.ARN == "" && l.ListenerARN == "" && l.TargetGroupARN == "" {
			rec.LoadBalancer = nil // all gone: so is the record of it
		}
	})
}

// apiLoadBalancer is the load balancer as found or created.
type apiLoadBalancer struct {
	name, arn, dns, scheme, state string
	targetGroup                   string
}

func elbTags(p *plan.Plan, name string) []elbtypes.Tag {
	return []elbtypes.Tag{
		{Key: aws.String("Name"), Value: aws.String(name)},
		{Key: aws.String(TagCluster), Value: aws.String(p.Name)},
		{Key: aws.String(TagRoles), Value: aws.String(string(plan.RoleMaster))},
	}
}

// clusterTag returns the kisgen.io/cluster tag of each resource (ARNs), asked
// describeTagsBatch at a time.
func clusterTag(ctx context.Context, api *elbv2.Client, arns []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(arns); start += describeTagsBatch {
		batch := arns[start:min(start+describeTagsBatch, len(arns))]
		res, err := api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: batch})
		if err != nil {
			return nil, fmt.Errorf("read the tags of %s: %w", strings.Join(batch, ", "), apiErr(err))
		}
		for _, d := range res.TagDescriptions {
			for _, t := range d.Tags {
				if aws.ToString(t.Key) == TagCluster {
					out[aws.ToString(d.ResourceArn)] = aws.ToString(t.Value)
				}
			}
		}
	}
	return out, nil
}

// notOurs is the error for a resource of kisgen's name that lacks the cluster's tag.
func notOurs(p *plan.Plan, what, name string) error {
	return fmt.Errorf("%w: a %s named %s exists in this region without kisgen's %s=%s tag: delete or rename it, or tag it %s=%s if it is this cluster's",
		providers.ErrSetting, what, name, TagCluster, p.Name, TagCluster, p.Name)
}

// findLoadBalancer returns the load balancer of that name, nil when there is none; one
// that is not the cluster's is an error.
func findLoadBalancer(ctx context.Context, api *elbv2.Client, p *plan.Plan, name string) (*elbtypes.LoadBalancer, error) {
	return findOurs(ctx, api, p, "load balancer", name, "LoadBalancerNotFound",
		func() ([]elbtypes.LoadBalancer, error) {
			out, err := api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{name}})
			if err != nil {
				return nil, err
			}
			return out.LoadBalancers, nil
		},
		func(lb elbtypes.LoadBalancer) string { return aws.ToString(lb.LoadBalancerArn) })
}

// findTargetGroup is findLoadBalancer for target groups.
func findTargetGroup(ctx context.Context, api *elbv2.Client, p *plan.Plan, name string) (*elbtypes.TargetGroup, error) {
	return findOurs(ctx, api, p, "target group", name, "TargetGroupNotFound",
		func() ([]elbtypes.TargetGroup, error) {
			out, err := api.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
			if err != nil {
				return nil, err
			}
			return out.TargetGroups, nil
		},
		func(tg elbtypes.TargetGroup) string { return aws.ToString(tg.TargetGroupArn) })
}

// findOurs describes the ELB resource of that name (nil when ELB answers notFound or
// lists none) and checks it carries the cluster's tag.
func findOurs[T any](ctx context.Context, api *elbv2.Client, p *plan.Plan, what, name, notFound string, describe func() ([]T, error), arnOf func(T) string) (*T, error) {
	found, err := describe()
	if isCode(err, notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find %s %s: %w", what, name, apiErr(err))
	}
	if len(found) == 0 {
		return nil, nil
	}
	r := found[0]
	arn := arnOf(r)
	tags, err := clusterTag(ctx, api, []string{arn})
	if err != nil {
		return nil, err
	}
	if tags[arn] != p.Name {
		return nil, notOurs(p, what, name)
	}
	return &r, nil
}

func zonesOf(lb elbtypes.LoadBalancer) map[string]string {
	out := map[string]string{}
	for _, z := range lb.AvailabilityZones {
		out[aws.ToString(z.ZoneName)] = aws.ToString(z.SubnetId)
	}
	return out
}

func subnetList(subs []subnetInfo) string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.id + " (" + s.zone + ")"
	}
	return strings.Join(out, ", ")
}

// ensureAPILoadBalancer finds or creates the load balancer, its target group and its
// listener, and brings what AWS lets change to the plan's settings. AWS cannot change a
// load balancer's scheme or a target group's port, protocol or VPC: a found one that
// differs there is an error that says what to delete.
func (e *EC2) ensureAPILoadBalancer(ctx context.Context, c clients, p *plan.Plan, nw network, sg securityGroups, rec *recorder, prog *providers.Progress) (apiLoadBalancer, error) {
	name := LoadBalancerName(p.Name)
	scheme := elbtypes.LoadBalancerSchemeEnum(p.Provider.AWS.LoadBalancer.Scheme)
	subnets := nw.loadBalancerSubnets()
	out := apiLoadBalancer{name: name, scheme: string(scheme)}

	lb, err := findLoadBalancer(ctx, c.elb, p, name)
	if err != nil {
		return out, err
	}
	if lb == nil {
		ids := make([]string, len(subnets))
		for i, s := range subnets {
			ids[i] = s.id
		}
		// CreateLoadBalancer is idempotent by name and settings: a retry after a lost
		// answer gets the same load balancer back.
		created, err := c.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
			Name:           aws.String(name),
			Type:           elbtypes.LoadBalancerTypeEnumNetwork,
			Scheme:         scheme,
			IpAddressType:  elbtypes.IpAddressTypeIpv4,
			Subnets:        ids,
			SecurityGroups: []string{sg.loadBalancer},
			Tags:           elbTags(p, name),
		})
		if err != nil {
			return out, fmt.Errorf("create load balancer %s in %s: %w", name, subnetList(subnets), apiErr(err))
		}
		if len(created.LoadBalancers) != 1 {
			return out, fmt.Errorf("create load balancer %s: ELB returned %d load balancers for one", name, len(created.LoadBalancers))
		}
		lb = &created.LoadBalancers[0]
		prog.Printf("load balancer %s created (network, %s, in %s)", name, scheme, subnetList(subnets))
	} else {
		if lb.Type != elbtypes.LoadBalancerTypeEnumNetwork || lb.Scheme != scheme {
			return out, fmt.Errorf("%w: load balancer %s is a %s %s one, the plan asks for a network %s one, and AWS cannot change that: delete it (the AWS CLI's elbv2 delete-load-balancer), then run provision again",
				providers.ErrSetting, name, lb.Scheme, lb.Type, scheme)
		}
		prog.Printf("load balancer %s found (%s)", name, lbState(*lb))
		if err := e.ensureLBSubnets(ctx, c, *lb, subnets, prog); err != nil {
			return out, err
		}
		if !slices.Contains(lb.SecurityGroups, sg.loadBalancer) {
			groups := append(slices.Clone(lb.SecurityGroups), sg.loadBalancer)
			if _, err := c.elb.SetSecurityGroups(ctx, &elbv2.SetSecurityGroupsInput{LoadBalancerArn: lb.LoadBalancerArn, SecurityGroups: groups}); err != nil {
				return out, fmt.Errorf("put load balancer %s into security group %s: %w", name, sg.loadBalancer, apiErr(err))
			}
			prog.Printf("load balancer %s put into security group %s", name, sg.loadBalancer)
		}
	}
	out.arn, out.dns, out.state = aws.ToString(lb.LoadBalancerArn), aws.ToString(lb.DNSName), lbState(*lb)
	if err := rec.updateLB(func(r *lbRecord) { r.Name, r.ARN, r.DNSName = name, out.arn, out.dns }); err != nil {
		return out, err
	}
	// Cross-zone: a zone's load balancer node sends to the masters of every zone, so a
	// zone whose master is down still serves.
	if err := lbAttribute(c, name, out.arn, "load_balancing.cross_zone.enabled", "true").ensure(ctx, prog); err != nil {
		return out, err
	}
	if out.targetGroup, err = e.ensureTargetGroup(ctx, c, p, name, nw.vpc, rec, prog); err != nil {
		return out, err
	}
	if err := e.ensureListener(ctx, c, p, out, rec, prog); err != nil {
		return out, err
	}
	return out, nil
}

func lbState(lb elbtypes.LoadBalancer) string {
	if lb.State == nil {
		return ""
	}
	return string(lb.State.Code)
}

// ensureLBSubnets adds the zones the load balancer lacks (a subnet the plan gained),
// keeping the ones it has: a master in a zone the load balancer does not span would
// never get traffic.
func (e *EC2) ensureLBSubnets(ctx context.Context, c clients, lb elbtypes.LoadBalancer, want []subnetInfo, prog *providers.Progress) error {
	have := zonesOf(lb)
	var ids, added []string
	for _, z := range lb.AvailabilityZones {
		ids = append(ids, aws.ToString(z.SubnetId))
	}
	for _, s := range want {
		if _, ok := have[s.zone]; !ok {
			ids = append(ids, s.id)
			added = append(added, s.id+" ("+s.zone+")")
		}
	}
	if len(added) == 0 {
		return nil
	}
	if _, err := c.elb.SetSubnets(ctx, &elbv2.SetSubnetsInput{LoadBalancerArn: lb.LoadBalancerArn, Subnets: ids}); err != nil {
		return fmt.Errorf("add subnets %s to load balancer %s: %w", strings.Join(added, ", "), aws.ToString(lb.LoadBalancerName), apiErr(err))
	}
	prog.Printf("load balancer %s now also in %s", aws.ToString(lb.LoadBalancerName), strings.Join(added, ", "))
	return nil
}

// attribute is one attribute of a load balancer or target group, read and set through
// the calls of its kind.
type attribute struct {
	what, key, value string
	read             func(context.Context) (map[string]string, error)
	set              func(context.Context) error
}

func lbAttribute(c clients, name, arn, key, value string) attribute {
	return attribute{what: "load balancer " + name, key: key, value: value,
		read: func(ctx context.Context) (map[string]string, error) {
			out, err := c.elb.DescribeLoadBalancerAttributes(ctx, &elbv2.DescribeLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn)})
			if err != nil {
				return nil, err
			}
			return attributeMap(out.Attributes, func(a elbtypes.LoadBalancerAttribute) (*string, *string) { return a.Key, a.Value }), nil
		},
		set: func(ctx context.Context) error {
			_, err := c.elb.ModifyLoadBalancerAttributes(ctx, &elbv2.ModifyLoadBalancerAttributesInput{LoadBalancerArn: aws.String(arn),
				Attributes: []elbtypes.LoadBalancerAttribute{{Key: aws.String(key), Value: aws.String(value)}}})
			return err
		}}
}

func tgAttribute(c clients, name, arn, key, value string) attribute {
	return attribute{what: "target group " + name, key: key, value: value,
		read: func(ctx context.Context) (map[string]string, error) {
			out, err := c.elb.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
			if err != nil {
				return nil, err
			}
			return attributeMap(out.Attributes, func(a elbtypes.TargetGroupAttribute) (*string, *string) { return a.Key, a.Value }), nil
		},
		set: func(ctx context.Context) error {
			_, err := c.elb.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn),
				Attributes: []elbtypes.TargetGroupAttribute{{Key: aws.String(key), Value: aws.String(value)}}})
			return err
		}}
}

// attributeMap is an attribute list as keys to values: the load balancer's and the target
// group's attributes are two types with the same two fields.
func attributeMap[A any](attrs []A, pair func(A) (key, value *string)) map[string]string {
	have := make(map[string]string, len(attrs))
	for _, a := range attrs {
		k, v := pair(a)
		have[aws.ToString(k)] = aws.ToString(v)
	}
	return have
}

// ensure sets the attribute when it has another value.
func (a attribute) ensure(ctx context.Context, prog *providers.Progress) error {
	have, err := a.read(ctx)
	if err != nil {
		return fmt.Errorf("read the attributes of %s: %w", a.what, apiErr(err))
	}
	if have[a.key] == a.value {
		return nil
	}
	if err := a.set(ctx); err != nil {
		return fmt.Errorf("set %s=%s on %s: %w", a.key, a.value, a.what, apiErr(err))
	}
	prog.Printf("%s: %s=%s", a.what, a.key, a.value)
	return nil
}

// healthCheck is the target group's health check as kisgen sets it.
func healthCheck() *elbv2.ModifyTargetGroupInput {
	return &elbv2.ModifyTargetGroupInput{
		HealthCheckEnabled:         aws.Bool(true),
		HealthCheckProtocol:        elbtypes.ProtocolEnumHttps,
		HealthCheckPort:            aws.String("traffic-port"),
		HealthCheckPath:            aws.String(healthCheckPath),
		HealthCheckIntervalSeconds: aws.Int32(healthCheckInterval),
		HealthCheckTimeoutSeconds:  aws.Int32(healthCheckTimeout),
		HealthyThresholdCount:      aws.Int32(healthyThreshold),
		UnhealthyThresholdCount:    aws.Int32(unhealthyThreshold),
		Matcher:                    &elbtypes.Matcher{HttpCode: aws.String("200")},
	}
}

func healthCheckDiffers(tg elbtypes.TargetGroup) bool {
	want := healthCheck()
	return !aws.ToBool(tg.HealthCheckEnabled) || tg.HealthCheckProtocol != want.HealthCheckProtocol ||
		aws.ToString(tg.HealthCheckPort) != aws.ToString(want.HealthCheckPort) || aws.ToString(tg.HealthCheckPath) != aws.ToString(want.HealthCheckPath) ||
		aws.ToInt32(tg.HealthCheckIntervalSeconds) != aws.ToInt32(want.HealthCheckIntervalSeconds) ||
		aws.ToInt32(tg.HealthCheckTimeoutSeconds) != aws.ToInt32(want.HealthCheckTimeoutSeconds) ||
		aws.ToInt32(tg.HealthyThresholdCount) != aws.ToInt32(want.HealthyThresholdCount) ||
		aws.ToInt32(tg.UnhealthyThresholdCount) != aws.ToInt32(want.UnhealthyThresholdCount) ||
		tg.Matcher == nil || aws.ToString(tg.Matcher.HttpCode) != aws.ToString(want.Matcher.HttpCode)
}

// ensureTargetGroup finds or creates the target group and returns its ARN.
func (e *EC2) ensureTargetGroup(ctx context.Context, c clients, p *plan.Plan, name, vpc string, rec *recorder, prog *providers.Progress) (string, error) {
	tg, err := findTargetGroup(ctx, c.elb, p, name)
	if err != nil {
		return "", err
	}
	if tg == nil {
		hc := healthCheck()
		created, err := c.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
			Name:                       aws.String(name),
			Protocol:                   elbtypes.ProtocolEnumTcp,
			Port:                       aws.Int32(apiServerPort),
			VpcId:                      aws.String(vpc),
			TargetType:                 elbtypes.TargetTypeEnumInstance,
			IpAddressType:              elbtypes.TargetGroupIpAddressTypeEnumIpv4,
			HealthCheckEnabled:         hc.HealthCheckEnabled,
			HealthCheckProtocol:        hc.HealthCheckProtocol,
			HealthCheckPort:            hc.HealthCheckPort,
			HealthCheckPath:            hc.HealthCheckPath,
			HealthCheckIntervalSeconds: hc.HealthCheckIntervalSeconds,
			HealthCheckTimeoutSeconds:  hc.HealthCheckTimeoutSeconds,
			HealthyThresholdCount:      hc.HealthyThresholdCount,
			UnhealthyThresholdCount:    hc.UnhealthyThresholdCount,
			Matcher:                    hc.Matcher,
			Tags:                       elbTags(p, name),
		})
		if err != nil {
			return "", fmt.Errorf("create target group %s: %w", name, apiErr(err))
		}
		if len(created.TargetGroups) != 1 {
			return "", fmt.Errorf("create target group %s: ELB returned %d target groups for one", name, len(created.TargetGroups))
		}
		tg = &created.TargetGroups[0]
		prog.Printf("target group %s created (tcp %d on the masters' instances, health checks HTTPS %s)", name, apiServerPort, healthCheckPath)
	} else {
		if tg.Protocol != elbtypes.ProtocolEnumTcp || aws.ToInt32(tg.Port) != apiServerPort || aws.ToString(tg.VpcId) != vpc || tg.TargetType != elbtypes.TargetTypeEnumInstance {
			return "", fmt.Errorf("%w: target group %s sends %s %d to %s targets in %s, the plan needs tcp %d to instances in %s, and AWS cannot change that: delete it (the AWS CLI's elbv2 delete-target-group), then run provision again",
				providers.ErrSetting, name, strings.ToLower(string(tg.Protocol)), aws.ToInt32(tg.Port), tg.TargetType, aws.ToString(tg.VpcId), apiServerPort, vpc)
		}
		prog.Printf("target group %s found", name)
		if healthCheckDiffers(*tg) {
			in := healthCheck()
			in.TargetGroupArn = tg.TargetGroupArn
			if _, err := c.elb.ModifyTargetGroup(ctx, in); err != nil {
				return "", fmt.Errorf("set the health check of target group %s: %w", name, apiErr(err))
			}
			prog.Printf("target group %s: health check set to HTTPS %s", name, healthCheckPath)
		}
	}
	arn := aws.ToString(tg.TargetGroupArn)
	if err := rec.updateLB(func(r *lbRecord) { r.TargetGroupARN = arn }); err != nil {
		return "", err
	}
	// The hairpin (see the top of this file): masters reach the API through it too.
	if err := tgAttribute(c, name, arn, "preserve_client_ip.enabled", "false").ensure(ctx, prog); err != nil {
		return "", err
	}
	return arn, nil
}

// ensureListener makes the load balancer's listener on the plan's port forward TCP to the
// target group. Listeners on other ports (the plan's port changed) are kept and listed.
func (e *EC2) ensureListener(ctx context.Context, c clients, p *plan.Plan, lb apiLoadBalancer, rec *recorder, prog *providers.Progress) error {
	port := int32(p.LoadBalancerPort)
	action := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(lb.targetGroup)}}
	var found *elbtypes.Listener
	var others []string
	pg := elbv2.NewDescribeListenersPaginator(c.elb, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lb.arn)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("read the listeners of load balancer %s: %w", lb.name, apiErr(err))
		}
		for i, l := range page.Listeners {
			if aws.ToInt32(l.Port) == port {
				found = &page.Listeners[i]
			} else {
				others = append(others, fmt.Sprintf("%s %d", strings.ToLower(string(l.Protocol)), aws.ToInt32(l.Port)))
			}
		}
	}
	if len(others) > 0 {
		prog.Printf("load balancer %s also listens on %s, kept (the plan's port is %d)", lb.name, strings.Join(others, ", "), port)
	}
	var arn string
	switch {
	case found == nil:
		out, err := c.elb.CreateListener(ctx, &elbv2.CreateListenerInput{
			LoadBalancerArn: aws.String(lb.arn), Port: aws.Int32(port), Protocol: elbtypes.ProtocolEnumTcp,
			DefaultActions: action, Tags: elbTags(p, lb.name),
		})
		if err != nil {
			return fmt.Errorf("create the listener tcp %d of load balancer %s: %w", port, lb.name, apiErr(err))
		}
		if len(out.Listeners) != 1 {
			return fmt.Errorf("create the listener tcp %d of load balancer %s: ELB returned %d listeners for one", port, lb.name, len(out.Listeners))
		}
		arn = aws.ToString(out.Listeners[0].ListenerArn)
		prog.Printf("load balancer %s listens on tcp %d, forwarded to target group %s", lb.name, port, lb.name)
	case found.Protocol != elbtypes.ProtocolEnumTcp || !forwardsTo(*found, lb.targetGroup):
		arn = aws.ToString(found.ListenerArn)
		if _, err := c.elb.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: found.ListenerArn, Port: aws.Int32(port),
			Protocol: elbtypes.ProtocolEnumTcp, DefaultActions: action}); err != nil {
			return fmt.Errorf("make the listener %d of load balancer %s forward tcp to target group %s: %w", port, lb.name, lb.name, apiErr(err))
		}
		prog.Printf("load balancer %s: the listener on %d now forwards tcp to target group %s", lb.name, port, lb.name)
	default:
		arn = aws.ToString(found.ListenerArn)
	}
	return rec.updateLB(func(r *lbRecord) { r.ListenerARN = arn })
}

func forwardsTo(l elbtypes.Listener, tg string) bool {
	if len(l.DefaultActions) != 1 {
		return false
	}
	a := l.DefaultActions[0]
	return a.Type == elbtypes.ActionTypeEnumForward && aws.ToString(a.TargetGroupArn) == tg
}

// registerMasters registers the masters' running instances with the target group and
// deregisters the instances that are no master's of the plan any more (a replaced or
// removed master, or something registered by hand). got are the instances provision
// returned; before are the cluster's instances found when it began, so that a master
// whose run failed this time keeps its registration.
func (e *EC2) registerMasters(ctx context.Context, c clients, p *plan.Plan, lb apiLoadBalancer, got []providers.Instance, before map[string]types.Instance, prog *providers.Progress) error {
	keep := map[string]string{} // instance id -> host
	want := map[string]string{}
	for _, m := range p.NodesWith(plan.RoleMaster) {
		if in, ok := before[m.Host]; ok {
			keep[aws.ToString(in.InstanceId)] = m.Host
		}
	}
	for _, in := range got {
		if n := p.Node(in.Host); n != nil && slices.Contains(n.Roles, plan.RoleMaster) && in.State == "running" {
			keep[in.ID], want[in.ID] = in.Host, in.Host
		}
	}
	health, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(lb.targetGroup)})
	if err != nil {
		return fmt.Errorf("read the targets of target group %s: %w", lb.name, apiErr(err))
	}
	registered := map[string]bool{}
	var drop []elbtypes.TargetDescription
	for _, d := range health.TargetHealthDescriptions {
		id := aws.ToString(d.Target.Id)
		registered[id] = true
		if _, ok := keep[id]; !ok {
			drop = append(drop, elbtypes.TargetDescription{Id: d.Target.Id, Port: d.Target.Port})
		}
	}
	var add []elbtypes.TargetDescription
	var added []string
	ids := slices.SortedFunc(maps.Keys(want), func(a, b string) int { return strings.Compare(want[a], want[b]) }) // by host
	for _, id := range ids {
		if !registered[id] {
			add = append(add, elbtypes.TargetDescription{Id: aws.String(id)})
			added = append(added, fmt.Sprintf("%s (%s)", want[id], id))
		}
	}
	if len(add) > 0 {
		if _, err := c.elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(lb.targetGroup), Targets: add}); err != nil {
			return fmt.Errorf("register %s with target group %s: %w", strings.Join(added, ", "), lb.name, apiErr(err))
		}
		prog.Printf("target group %s: registered %s", lb.name, strings.Join(added, ", "))
	}
	if len(drop) > 0 {
		gone := make([]string, len(drop))
		for i, d := range drop {
			gone[i] = aws.ToString(d.Id)
		}
		if _, err := c.elb.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(lb.targetGroup), Targets: drop}); err != nil {
			return fmt.Errorf("deregister %s from target group %s: %w", strings.Join(gone, ", "), lb.name, apiErr(err))
		}
		prog.Printf("target group %s: deregistered %s (no master of the plan runs on it)", lb.name, strings.Join(gone, ", "))
	}
	return nil
}

// announce says where the API is and what the user must do for clients to get there:
// master.load_balancer is theirs to point at the load balancer's DNS name.
func (lb apiLoadBalancer) announce(p *plan.Plan, prog *providers.Progress) {
	host := p.LoadBalancer
	state := lb.state
	if state != string(elbtypes.LoadBalancerStateEnumActive) {
		state += ": AWS makes it active within minutes"
	}
	prog.Printf("the API's load balancer %s (%s; %s) is %s", lb.name, lb.scheme, state, lb.dns)
	prog.Printf("point %s at it with a DNS record the nodes' resolver answers: %q (in Route 53 an alias A record to the load balancer works too); clients reach the API at %s once the name resolves, and the nodes wait for it",
		host, host+". 300 IN CNAME "+lb.dns+".", p.APIServerURL())
}

// destroyAPILoadBalancer removes the cluster's load balancers and target groups that
// kisgen's record names (every one that carries the cluster's tag with FromTags); the
// others tagged for the cluster are added to strangers. Deleting a load balancer deletes
// its listeners.
func (e *EC2) destroyAPILoadBalancer(ctx context.Context, c clients, p *plan.Plan, rec *recorder, opts providers.Options, prog *providers.Progress) (strangers []string, err error) {
	r := rec.loadBalancer()
	if r.ARN == "" && r.TargetGroupARN == "" && !opts.FromTags && !p.CreatesAWSLoadBalancer() {
		return nil, nil // nothing of the kind was made or asked for: no ELB permissions needed
	}
	lbs, tgs, err := findTaggedELB(ctx, c.elb, p.Name)
	if err != nil {
		return nil, err
	}
	var errs []error
	liveLB := false
	for _, lb := range lbs {
		arn, name := aws.ToString(lb.LoadBalancerArn), aws.ToString(lb.LoadBalancerName)
		if arn != r.ARN && !opts.FromTags {
			strangers = append(strangers, fmt.Sprintf("load balancer %s (%s)", name, arn))
			continue
		}
		if _, err := c.elb.DeleteLoadBalancer(ctx, &elbv2.DeleteLoadBalancerInput{LoadBalancerArn: aws.String(arn)}); err != nil && !isCode(err, "LoadBalancerNotFound") {
			errs = append(errs, fmt.Errorf("delete load balancer %s: %w", name, apiErr(err)))
			liveLB = true
			continue
		}
		prog.Printf("deleted load balancer %s and its listeners", name)
	}
	if !liveLB {
		if err := rec.updateLB(func(l *lbRecord) { l.ARN, l.DNSName, l.ListenerARN = "", "", "" }); err != nil {
			return strangers, err
		}
	}
	liveTG := false
	for _, tg := range tgs {
		arn, name := aws.ToString(tg.TargetGroupArn), aws.ToString(tg.TargetGroupName)
		if arn != r.TargetGroupARN && !opts.FromTags {
			strangers = append(strangers, fmt.Sprintf("target group %s (%s)", name, arn))
			continue
		}
		if err := e.deleteTargetGroup(ctx, c, arn); err != nil {
			errs = append(errs, fmt.Errorf("delete target group %s: %w", name, err))
			liveTG = true
			continue
		}
		prog.Printf("deleted target group %s", name)
	}
	if !liveTG {
		if err := rec.updateLB(func(l *lbRecord) { l.TargetGroupARN = "" }); err != nil {
			return strangers, err
		}
	}
	return strangers, errors.Join(errs...)
}

// deleteTargetGroup retries while ELB still counts the target group as in use by the
// listeners of a load balancer being deleted.
func (e *EC2) deleteTargetGroup(ctx context.Context, c clients, arn string) error {
	deadline := time.Now().Add(e.timeout())
	for {
		_, err := c.elb.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)})
		if err == nil || isCode(err, "TargetGroupNotFound") {
			return nil
		}
		if !isCode(err, "ResourceInUse") || time.Now().After(deadline) {
			return apiErr(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.poll()):
		}
	}
}

// findTaggedELB returns the region's load balancers and target groups that carry the
// cluster's tag. ELB filters by nothing but names and ARNs, so every one is listed and
// their tags read.
func findTaggedELB(ctx context.Context, api *elbv2.Client, cluster string) ([]elbtypes.LoadBalancer, []elbtypes.TargetGroup, error) {
	var lbs []elbtypes.LoadBalancer
	lp := elbv2.NewDescribeLoadBalancersPaginator(api, &elbv2.DescribeLoadBalancersInput{})
	for lp.HasMorePages() {
		page, err := lp.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list the load balancers: %w", apiErr(err))
		}
		lbs = append(lbs, page.LoadBalancers...)
	}
	var tgs []elbtypes.TargetGroup
	tp := elbv2.NewDescribeTargetGroupsPaginator(api, &elbv2.DescribeTargetGroupsInput{})
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list the target groups: %w", apiErr(err))
		}
		tgs = append(tgs, page.TargetGroups...)
	}
	arns := make([]string, 0, len(lbs)+len(tgs))
	for _, lb := range lbs {
		arns = append(arns, aws.ToString(lb.LoadBalancerArn))
	}
	for _, tg := range tgs {
		arns = append(arns, aws.ToString(tg.TargetGroupArn))
	}
	tags, err := clusterTag(ctx, api, arns)
	if err != nil {
		return nil, nil, err
	}
	lbs = slices.DeleteFunc(lbs, func(lb elbtypes.LoadBalancer) bool { return tags[aws.ToString(lb.LoadBalancerArn)] != cluster })
	tgs = slices.DeleteFunc(tgs, func(tg elbtypes.TargetGroup) bool { return tags[aws.ToString(tg.TargetGroupArn)] != cluster })
	sort.Slice(lbs, func(i, j int) bool {
		return aws.ToString(lbs[i].LoadBalancerName) < aws.ToString(lbs[j].LoadBalancerName)
	})
	sort.Slice(tgs, func(i, j int) bool {
		return aws.ToString(tgs[i].TargetGroupName) < aws.ToString(tgs[j].TargetGroupName)
	})
	return lbs, tgs, nil
}

// lbInventory lists the load balancer and target group for provision --dry-run: what
// exists (tagged for the cluster) and, when the plan asks for them and they do not, what
// provision would create.
func lbInventory(ctx context.Context, c clients, p *plan.Plan, rec record, opts providers.Options) ([]providers.Found, error) {
	var r lbRecord
	if rec.LoadBalancer != nil {
		r = *rec.LoadBalancer
	}
	wanted := p.CreatesAWSLoadBalancer()
	if r.ARN == "" && r.TargetGroupARN == "" && !opts.FromTags && !wanted {
		return nil, nil
	}
	lbs, tgs, err := findTaggedELB(ctx, c.elb, p.Name)
	if err != nil {
		return nil, err
	}
	name := LoadBalancerName(p.Name)
	port := p.LoadBalancerPort
	var out []providers.Found
	haveLB, haveTG := false, false
	for _, lb := range lbs {
		n := aws.ToString(lb.LoadBalancerName)
		haveLB = haveLB || n == name
		out = append(out, providers.Found{Resource: "load balancer", Host: n, ID: aws.ToString(lb.LoadBalancerArn), State: lbState(lb),
			Recorded: aws.ToString(lb.LoadBalancerArn) == r.ARN, Planned: wanted && n == name,
			Note: fmt.Sprintf("%s, %s", lb.Scheme, aws.ToString(lb.DNSName))})
	}
	if wanted && !haveLB {
		out = append(out, providers.Found{Resource: "load balancer", Host: name, Planned: true,
			Note: fmt.Sprintf("network, %s, in one subnet per zone of %s; listener tcp %d", p.Provider.AWS.LoadBalancer.Scheme, strings.Join(p.Provider.AWS.Subnets(), ", "), port)})
	}
	for _, tg := range tgs {
		n, arn := aws.ToString(tg.TargetGroupName), aws.ToString(tg.TargetGroupArn)
		haveTG = haveTG || n == name
		note := fmt.Sprintf("%s %d", strings.ToLower(string(tg.Protocol)), aws.ToInt32(tg.Port))
		if h, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn}); err == nil {
			var targets []string
			for _, d := range h.TargetHealthDescriptions {
				st := ""
				if d.TargetHealth != nil {
					st = " " + string(d.TargetHealth.State)
				}
				targets = append(targets, aws.ToString(d.Target.Id)+st)
			}
			sort.Strings(targets)
			if len(targets) == 0 {
				targets = []string{"none"}
			}
			note += "; targets: " + strings.Join(targets, ", ")
		}
		out = append(out, providers.Found{Resource: "target group", Host: n, ID: arn, Recorded: arn == r.TargetGroupARN, Planned: wanted && n == name, Note: note})
	}
	if wanted && !haveTG {
		out = append(out, providers.Found{Resource: "target group", Host: name, Planned: true,
			Note: fmt.Sprintf("tcp %d to the masters' instances, health checks HTTPS %s", apiServerPort, healthCheckPath)})
	}
	return out, nil
}
