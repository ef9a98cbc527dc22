package ec2

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Rule is one ingress permission of the cluster's security group.
type Rule struct {
	// Protocol is tcp, udp, icmp or -1 (everything).
	Protocol string
	From, To int32
	// CIDR is the source range, or "" when the source is the group itself.
	CIDR        string
	Description string
}

func (r Rule) key() string {
	from, to := r.From, r.To
	if r.Protocol == "-1" {
		from, to = 0, 0 // ports mean nothing for all traffic; EC2 omits them
	}
	return fmt.Sprintf("%s/%d/%d/%s", r.Protocol, from, to, r.CIDR)
}

// Firewall is the Kismatic guide's firewall table for a cluster: the API server (tcp 6443),
// SSH (tcp 22) and ICMP from the admin ranges, and all traffic between the cluster's nodes
// (the group referring to itself).
//
// The guide also opens tcp 8080, kube-apiserver's insecure port. Kubernetes removed that
// port (the --insecure-port flag) in 1.20; nothing listens there on a kisgen cluster, and
// opening an unauthenticated port's number to the admin ranges would only invite a
// mistake, so kisgen does not.
func Firewall(adminCIDRs []string) []Rule {
	var out []Rule
	for _, c := range adminCIDRs {
		out = append(out,
			Rule{Protocol: "tcp", From: 6443, To: 6443, CIDR: c, Description: "Kubernetes API from admin ranges"},
			Rule{Protocol: "tcp", From: 22, To: 22, CIDR: c, Description: "SSH from admin ranges"},
			Rule{Protocol: "icmp", From: -1, To: -1, CIDR: c, Description: "ICMP from admin ranges"},
		)
	}
	out = append(out, Rule{Protocol: "-1", Description: "all traffic between the cluster's nodes"})
	return out
}

// SecurityGroupName is the name of the cluster's security group.
func SecurityGroupName(cluster string) string { return "kisgen-" + cluster }

// ensureSecurityGroup finds or creates the cluster's security group in vpc and adds the
// firewall rules it lacks. Rules someone added by hand are left alone.
func (e *EC2) ensureSecurityGroup(ctx context.Context, c clients, p *plan.Plan, vpc string, rec *recorder, prog *providers.Progress) (string, error) {
	name := SecurityGroupName(p.Name)
	out, err := c.ec2.DescribeSecurityGroups(ctx, &ec2sdk.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{vpc}},
		{Name: aws.String("group-name"), Values: []string{name}},
		{Name: aws.String("tag:" + TagCluster), Values: []string{p.Name}},
	}})
	if err != nil {
		return "", fmt.Errorf("find security group %s: %w", name, apiErr(err))
	}
	var sg types.SecurityGroup
	if len(out.SecurityGroups) > 0 {
		sg = out.SecurityGroups[0]
		prog.Printf("security group %s (%s) found", name, aws.ToString(sg.GroupId))
	} else {
		created, err := c.ec2.CreateSecurityGroup(ctx, &ec2sdk.CreateSecurityGroupInput{
			GroupName:   aws.String(name),
			Description: aws.String("kisgen cluster " + p.Name + ": the Kismatic guide's firewall table"),
			VpcId:       aws.String(vpc),
			TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSecurityGroup, Tags: []types.Tag{
				{Key: aws.String("Name"), Value: aws.String(name)},
				{Key: aws.String(TagCluster), Value: aws.String(p.Name)},
			}}},
		})
		if isCode(err, "InvalidGroup.Duplicate") {
			return "", fmt.Errorf("%w: a security group named %s exists in %s without kisgen's %s tag: rename it, or tag it %s=%s if it is this cluster's", providers.ErrSetting, name, vpc, TagCluster, TagCluster, p.Name)
		}
		if err != nil {
			return "", fmt.Errorf("create security group %s: %w", name, apiErr(err))
		}
		sg.GroupId = created.GroupId
		prog.Printf("security group %s (%s) created", name, aws.ToString(sg.GroupId))
	}
	id := aws.ToString(sg.GroupId)
	if err := rec.update(func(r *record) { r.SecurityGroup = id }); err != nil {
		return "", err
	}

	have := map[string]bool{}
	for _, perm := range sg.IpPermissions {
		for _, r := range rulesOf(perm, id) {
			have[r.key()] = true
		}
	}
	var missing []types.IpPermission
	for _, r := range Firewall(p.Provider.AWS.AdminCIDRs) {
		if have[r.key()] {
			continue
		}
		missing = append(missing, permission(r, id))
	}
	if len(missing) == 0 {
		return id, nil
	}
	if _, err := c.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2sdk.AuthorizeSecurityGroupIngressInput{GroupId: aws.String(id), IpPermissions: missing}); err != nil {
		return "", fmt.Errorf("add firewall rules to %s: %w", id, apiErr(err))
	}
	prog.Printf("security group %s: %d firewall rules added", id, len(missing))
	return id, nil
}

// rulesOf flattens one EC2 permission into rules; a source group other than self is
// not one of kisgen's rules and is skipped.
func rulesOf(perm types.IpPermission, self string) []Rule {
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
		if aws.ToString(g.GroupId) == self {
			out = append(out, base)
		}
	}
	return out
}

func permission(r Rule, self string) types.IpPermission {
	p := types.IpPermission{IpProtocol: aws.String(r.Protocol)}
	if r.Protocol != "-1" {
		p.FromPort, p.ToPort = aws.Int32(r.From), aws.Int32(r.To)
	}
	switch {
	case r.CIDR == "":
		p.UserIdGroupPairs = []types.UserIdGroupPair{{GroupId: aws.String(self), Description: aws.String(r.Description)}}
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
