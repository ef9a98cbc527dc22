package ec2

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Rule is one ingress permission of one of the cluster's security groups.
type Rule struct {
	// Protocol is tcp, udp, icmp, 4 (IP-in-IP) or -1 (everything).
	Protocol string
	From, To int32
	// CIDR is the source range, or "" when the source is a group: Group, or the cluster's
	// nodes (the cluster group, which every node is in) when Group is "" too.
	CIDR string
	// Group is the name of another of the cluster's groups that is the source (the API
	// load balancer's).
	Group       string
	Description string
}

func (r Rule) key() string {
	from, to := r.From, r.To
	if !hasPorts(r.Protocol) {
		from, to = 0, 0 // ports mean nothing for other protocols; EC2 omits them
	}
	return fmt.Sprintf("%s/%d/%d/%s", r.Protocol, from, to, r.source())
}

// source is the rule's source as keys and progress lines show it: a range, "group NAME"
// or "" for the cluster's nodes.
func (r Rule) source() string {
	if r.Group != "" {
		return "group " + r.Group
	}
	return r.CIDR
}

// String is the rule as the progress lines show it: "tcp 6443 from 203.0.113.0/24".
func (r Rule) String() string {
	what := r.Protocol
	switch {
	case r.Protocol == "-1":
		what = "all traffic"
	case r.Protocol == "4":
		what = "IP-in-IP"
	case r.Protocol == "icmp":
	case r.From == r.To:
		what = fmt.Sprintf("%s %d", r.Protocol, r.From)
	default:
		what = fmt.Sprintf("%s %d-%d", r.Protocol, r.From, r.To)
	}
	src := r.source()
	if src == "" {
		src = "the cluster's nodes"
	}
	return what + " from " + src
}

func hasPorts(protocol string) bool {
	return protocol == "tcp" || protocol == "udp" || protocol == "icmp"
}

// Group is one of the cluster's security groups and the rules kisgen gives it.
type Group struct {
	// Role is the role whose nodes are in the group; "" for the cluster group, which
	// every node is in, and for the load balancer's.
	Role plan.Role
	// LoadBalancer marks the group of the API's Network Load Balancer.
	LoadBalancer bool
	Name         string
	Rules        []Rule
}

// SecurityGroupName is the name of the cluster's security group, which every node is in.
func SecurityGroupName(cluster string) string { return "kisgen-" + cluster }

// RoleSecurityGroupName is the name of the security group of a role's nodes.
func RoleSecurityGroupName(cluster string, r plan.Role) string {
	return "kisgen-" + cluster + "-" + string(r)
}

// LoadBalancerSecurityGroupName is the name of the security group of the API's Network
// Load Balancer.
func LoadBalancerSecurityGroupName(cluster string) string { return "kisgen-" + cluster + "-api-lb" }

// Firewall is the Kismatic guide's firewall table for a plan, as one security group that
// every node is in and one per role the plan has, each holding the rules that concern it:
//
//   - cluster group: TCP and UDP on every port, and ICMP, between the cluster's nodes (the
//     group referring to itself); SSH (tcp 22) and ICMP from admin_cidrs; with Calico's
//     overlay mode, IP-in-IP (protocol 4) between the nodes, which carries the pod traffic
//     (the guide's "all internal traffic" is TCP and UDP only, and it asks that IP-in-IP
//     not be blocked);
//   - master group: the API server (tcp 6443) from admin_cidrs, and from the plan's load
//     balancer when it is an address that no node has, or from the load balancer's group
//     when kisgen creates the API's Network Load Balancer;
//   - load balancer group, when kisgen creates the API's Network Load Balancer: the load
//     balancer's port from admin_cidrs and from the cluster's nodes (kubelets, kube-proxy
//     and pods reach the API through it). The masters see its own addresses as the source
//     (kisgen turns off client IP preservation, see loadbalancer.go), so the master group
//     admits it by group, health checks included;
//   - ingress group: HTTP and HTTPS (tcp 80 and 443) from ingress_cidrs (admin_cidrs
//     when there are none);
//   - etcd, worker and storage groups: no rules of kisgen's (the nodes reach each other
//     through the cluster group); the place for rules of one's own for that role.
//
// The guide also opens tcp 8080, kube-apiserver's insecure port. Kubernetes removed that
// port (the --insecure-port flag) in 1.20; nothing listens there on a kisgen cluster, and
// opening an unauthenticated port's number to the admin ranges would only invite a
// mistake, so kisgen does not.
func Firewall(p *plan.Plan) []Group {
	cfg := p.Provider.AWS
	cluster := Group{Name: SecurityGroupName(p.Name), Rules: []Rule{
		{Protocol: "tcp", From: 0, To: 65535, Description: "kisgen: TCP between the cluster's nodes"},
		{Protocol: "udp", From: 0, To: 65535, Description: "kisgen: UDP between the cluster's nodes"},
		{Protocol: "icmp", From: -1, To: -1, Description: "kisgen: ICMP between the cluster's nodes"},
	}}
	if ipipOverlay(p) {
		cluster.Rules = append(cluster.Rules, Rule{Protocol: "4", Description: "kisgen: IP-in-IP between the cluster's nodes (Calico overlay)"})
	}
	for _, c := range cfg.AdminCIDRs {
		cluster.Rules = append(cluster.Rules,
			Rule{Protocol: "tcp", From: 22, To: 22, CIDR: c, Description: "kisgen: SSH from admin ranges"},
			Rule{Protocol: "icmp", From: -1, To: -1, CIDR: c, Description: "kisgen: ICMP from admin ranges"})
	}
	out := []Group{cluster}
	for _, r := range plan.Roles {
		if len(p.NodesWith(r)) == 0 {
			continue
		}
		g := Group{Role: r, Name: RoleSecurityGroupName(p.Name, r)}
		switch r {
		case plan.RoleMaster:
			for _, c := range cfg.AdminCIDRs {
				g.Rules = append(g.Rules, Rule{Protocol: "tcp", From: 6443, To: 6443, CIDR: c, Description: "kisgen: Kubernetes API from admin ranges"})
			}
			if lb, ok := loadBalancerAddress(p); ok {
				g.Rules = append(g.Rules, Rule{Protocol: "tcp", From: 6443, To: 6443, CIDR: lb, Description: "kisgen: Kubernetes API from the load balancer"})
			}
			if p.CreatesAWSLoadBalancer() {
				g.Rules = append(g.Rules, Rule{Protocol: "tcp", From: apiServerPort, To: apiServerPort, Group: LoadBalancerSecurityGroupName(p.Name),
					Description: "kisgen: Kubernetes API from the API's load balancer (traffic and health checks)"})
			}
		case plan.RoleIngress:
			cidrs := cfg.IngressCIDRs
			if len(cidrs) == 0 {
				cidrs = cfg.AdminCIDRs
			}
			for _, c := range cidrs {
				g.Rules = append(g.Rules,
					Rule{Protocol: "tcp", From: 80, To: 80, CIDR: c, Description: "kisgen: HTTP to the ingress nodes"},
					Rule{Protocol: "tcp", From: 443, To: 443, CIDR: c, Description: "kisgen: HTTPS to the ingress nodes"})
			}
		}
		out = append(out, g)
	}
	if p.CreatesAWSLoadBalancer() {
		port := int32(p.LoadBalancerPort)
		lb := Group{LoadBalancer: true, Name: LoadBalancerSecurityGroupName(p.Name)}
		for _, c := range cfg.AdminCIDRs {
			lb.Rules = append(lb.Rules, Rule{Protocol: "tcp", From: port, To: port, CIDR: c, Description: "kisgen: Kubernetes API from admin ranges"})
		}
		lb.Rules = append(lb.Rules, Rule{Protocol: "tcp", From: port, To: port, Description: "kisgen: Kubernetes API from the cluster's nodes"})
		out = append(out, lb)
	}
	return out
}

// ipipOverlay says whether pod traffic crosses between the nodes in IP-in-IP (Calico's
// overlay mode), which EC2 carries only when a rule allows protocol 4.
func ipipOverlay(p *plan.Plan) bool {
	return !p.Network.CNIDisabled && p.Network.CNIProvider == "calico" && p.Network.Mode == plan.ModeOverlay
}

// routesPodAddresses says whether nodes send pod traffic unwrapped, with pod addresses as
// source and destination (Calico's routed mode; the bridge plugin's static routes): EC2
// drops such packets unless the instance's source/destination check is off.
func routesPodAddresses(p *plan.Plan) bool {
	if p.Network.CNIDisabled {
		return false
	}
	switch p.Network.CNIProvider {
	case "calico":
		return p.Network.Mode == plan.ModeRouted
	case "bridge":
		return true
	}
	return false
}

// loadBalancerAddress is the plan's load balancer as a /32 source range, when the plan
// names one by address and no node holds it (nodes reach the API through the cluster
// group already).
func loadBalancerAddress(p *plan.Plan) (string, bool) {
	if !p.LoadBalancerPlanned {
		return "", false
	}
	a, err := netip.ParseAddr(p.LoadBalancer)
	if err != nil || !a.Is4() {
		return "", false
	}
	for _, n := range p.Nodes {
		if n.IP == a || n.InternalIP == a {
			return "", false
		}
	}
	return netip.PrefixFrom(a, 32).String(), true
}

// securityGroups are the cluster's groups as found or created: the cluster group's id,
// each role's and the load balancer's.
type securityGroups struct {
	cluster      string
	roles        map[plan.Role]string
	loadBalancer string
}

// forNode lists the groups a node is in: the cluster group and each of its roles'.
func (s securityGroups) forNode(n *plan.Node) []string {
	out := []string{s.cluster}
	for _, r := range n.Roles {
		if id := s.roles[r]; id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// ensureSecurityGroups finds or creates each of the cluster's security groups in vpc and
// adds the rules of Firewall it lacks. Rules someone added by hand are kept, and listed.
func (e *EC2) ensureSecurityGroups(ctx context.Context, c clients, p *plan.Plan, vpc string, rec *recorder, prog *providers.Progress) (securityGroups, error) {
	out := securityGroups{roles: map[plan.Role]string{}}
	groups := Firewall(p)
	ids := map[string]string{} // name -> id: rules name their source groups
	for _, g := range groups {
		id, err := e.ensureGroup(ctx, c, p, vpc, g, rec, prog)
		if err != nil {
			return out, err
		}
		ids[g.Name] = id
		switch {
		case g.LoadBalancer:
			out.loadBalancer = id
		case g.Role == "":
			out.cluster = id
		default:
			out.roles[g.Role] = id
		}
	}
	for _, g := range groups {
		if err := e.ensureRules(ctx, c, ids, out.cluster, g, prog); err != nil {
			return out, err
		}
	}
	return out, nil
}

// ensureGroup finds the group by name and cluster tag in vpc, or creates it, and records it.
func (e *EC2) ensureGroup(ctx context.Context, c clients, p *plan.Plan, vpc string, g Group, rec *recorder, prog *providers.Progress) (string, error) {
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2sdk.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}},
		{Name: aws.String("group-name"), Values: []string{g.Name}},
		{Name: aws.String("tag:" + TagCluster), Values: []string{p.Name}},
	}})
	if err != nil {
		return "", fmt.Errorf("find security group %s: %w", g.Name, apiErr(err))
	}
	var id string
	if len(out.SecurityGroups) > 0 {
		id = aws.ToString(out.SecurityGroups[0].GroupId)
		prog.Printf("security group %s (%s) found", g.Name, id)
	} else {
		tags := []types.Tag{{Key: aws.String("Name"), Value: aws.String(g.Name)}, {Key: aws.String(TagCluster), Value: aws.String(p.Name)}}
		what := "every node: the Kismatic guide's firewall table"
		switch {
		case g.LoadBalancer:
			what = "the API's Network Load Balancer: its port from the admin ranges and the nodes"
		case g.Role != "":
			tags = append(tags, types.Tag{Key: aws.String(TagRoles), Value: aws.String(string(g.Role))})
			what = "the " + string(g.Role) + " nodes: the Kismatic guide's firewall table"
		}
		created, err := c.ec2.CreateSecurityGroup(ctx, &ec2sdk.CreateSecurityGroupInput{
			GroupName:         aws.String(g.Name),
			Description:       aws.String("kisgen cluster " + p.Name + ", " + what),
			VpcId:             aws.String(vpc),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: tags}},
		})
		if isCode(err, "InvalidGroup.Duplicate") {
			return "", fmt.Errorf("%w: a security group named %s exists in %s without kisgen's %s tag: rename it, or tag it %s=%s if it is this cluster's", providers.ErrSetting, g.Name, vpc, TagCluster, TagCluster, p.Name)
		}
		if err != nil {
			return "", fmt.Errorf("create security group %s: %w", g.Name, apiErr(err))
		}
		id = aws.ToString(created.GroupId)
		prog.Printf("security group %s (%s) created", g.Name, id)
	}
	if err := rec.update(func(r *record) {
		switch {
		case g.LoadBalancer:
			r.LoadBalancerSecurityGroup = id
			return
		case g.Role == "":
			r.SecurityGroup = id
			return
		}
		if r.RoleSecurityGroups == nil {
			r.RoleSecurityGroups = map[plan.Role]string{}
		}
		r.RoleSecurityGroups[g.Role] = id
	}); err != nil {
		return "", err
	}
	return id, nil
}

// ensureRules adds the group's rules it lacks, and lists the rules it holds that are not
// kisgen's (added by hand, or by an older kisgen), which it keeps. ids are the cluster's
// groups by name, cluster the cluster group's id.
func (e *EC2) ensureRules(ctx context.Context, c clients, ids map[string]string, cluster string, g Group, prog *providers.Progress) error {
	id := ids[g.Name]
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2sdk.DescribeSecurityGroupsInput{GroupIds: []string{id}})
	if err != nil {
		return fmt.Errorf("read security group %s: %w", id, apiErr(err))
	}
	names := map[string]string{}
	for name, gid := range ids {
		names[gid] = name
	}
	have := map[string]Rule{}
	for _, sg := range out.SecurityGroups {
		for _, perm := range sg.IpPermissions {
			for _, r := range rulesOf(perm, cluster, names) {
				have[r.key()] = r
			}
		}
	}
	want := map[string]bool{}
	var missing []types.IpPermission
	for _, r := range g.Rules {
		want[r.key()] = true
		if _, ok := have[r.key()]; !ok {
			missing = append(missing, permission(r, cluster, ids))
		}
	}
	var extra []string
	for k, r := range have {
		if !want[k] {
			extra = append(extra, r.String())
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		prog.Printf("security group %s (%s) also holds rules that are not in kisgen's table, kept: %s", g.Name, id, strings.Join(extra, "; "))
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2sdk.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: missing}); err != nil {
		return fmt.Errorf("add firewall rules to %s: %w", id, apiErr(err))
	}
	prog.Printf("security group %s (%s): %d firewall rules added", g.Name, id, len(missing))
	return nil
}

// rulesOf flattens one EC2 permission into rules; the cluster group as a source becomes
// the empty CIDR, another of the cluster's groups (names: id -> name) its name, any
// other group its id.
func rulesOf(perm types.IpPermission, cluster string, names map[string]string) []Rule {
	base := Rule{Protocol: aws.ToString(perm.IpProtocol), From: aws.ToInt32(perm.FromPort), To: aws.ToInt32(perm.ToPort)}
	var out []Rule
	for _, r := range perm.IpRanges {
		x := base
		x.CIDR = aws.ToString(r.CidrIp)
		out = append(out, x)
	}
	for _, r := range perm.Ipv6Ranges {
		x := base
		x.CIDR = aws.ToString(r.CidrIpv6)
		out = append(out, x)
	}
	for _, g := range perm.UserIdGroupPairs {
		x := base
		id := aws.ToString(g.GroupId)
		switch name, ours := names[id]; {
		case id == cluster:
		case ours:
			x.Group = name
		default:
			x.CIDR = "group " + id
		}
		out = append(out, x)
	}
	return out
}

// permission is a rule as EC2 takes it; ids are the cluster's groups by name.
func permission(r Rule, cluster string, ids map[string]string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String(r.Protocol)}
	if hasPorts(r.Protocol) {
		p.FromPort, p.ToPort = aws.Int32(r.From), aws.Int32(r.To)
	}
	switch {
	case r.Group != "":
		p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(ids[r.Group]), Description: aws.String(r.Description)}}
	case r.CIDR == "":
		p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(cluster), Description: aws.String(r.Description)}}
	case isIPv6(r.CIDR):
		p.Ipv6Ranges = []types.Ipv6Range{{CidrIpv6: aws.String(r.CIDR), Description: aws.String(r.Description)}}
	default:
		p.IpRanges = []types.IpRange{{CidrIp: aws.String(r.CIDR), Description: aws.String(r.Description)}}
	}
	return p
}

func isIPv6(cidr string) bool {
	pfx, err := netip.ParsePrefix(cidr)
	return err == nil && pfx.Addr().Is6()
}
