package ec2

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// problem is something in the plan the provider cannot launch, found without AWS.
type problem struct{ path, msg, hint string }

func secretsMode(p *plan.Plan) string {
	if m := p.Provider.AWS.Secrets; m != "" {
		return m
	}
	return SecretsInline
}

// problems lists what the plan lacks for EC2. Validate reports them as findings and
// prepare refuses them as errors, before any call. Validate leaves out (all false) what
// the plan's own rules report when its provider is aws.
func problems(p *plan.Plan, all bool) []problem {
	cfg := p.Provider.AWS
	mode := secretsMode(p)
	var out []problem
	if len(cfg.Subnets()) == 0 {
		out = append(out, problem{"provider.aws.subnet_id", "the aws provider needs subnet_id (or subnet_ids)", "name the subnet the nodes' internal ips belong to"})
	}
	// The plan's own rules report these when its provider is aws (plan/validate.go).
	if all || p.Provider.Name != Name {
		if len(cfg.AdminCIDRs) == 0 {
			out = append(out, problem{"provider.aws.admin_cidrs", "the aws provider needs admin_cidrs",
				"name the ranges allowed to reach the nodes' SSH and the API server; write [0.0.0.0/0] to open them to everyone (kisgen opens nothing to the internet unless the plan says so)"})
		}
		if mode != SecretsInline && cfg.InstanceProfile == "" {
			out = append(out, problem{"provider.aws.instance_profile", fmt.Sprintf("secrets mode %s needs instance_profile", mode), "name an instance profile whose role may read and delete the node's secrets"})
		}
		if mode == SecretsS3 && cfg.SecretsBucket == "" {
			out = append(out, problem{"provider.aws.secrets_bucket", "secrets mode s3 needs secrets_bucket", "name the bucket that holds the nodes' secrets"})
		}
		// The certificates name master.load_balancer, rendered before the load balancer
		// exists: it must be a name the user points at it (plan/validate.go says more).
		if p.CreatesAWSLoadBalancer() {
			if _, err := netip.ParseAddr(p.LoadBalancer); err == nil || !p.LoadBalancerPlanned {
				out = append(out, problem{"master.load_balancer", fmt.Sprintf("kisgen creates a Network Load Balancer for the API, whose addresses AWS assigns: master.load_balancer must be a DNS name, not %q", p.LoadBalancer),
					"set it to a DNS name you control, e.g. kubernetes.example.com:6443, render again, and point the name at the load balancer provision prints; or set provider.aws.load_balancer.create: never"})
			}
		}
	}
	for _, r := range plan.Roles {
		nodes := p.NodesWith(r)
		g := p.Groups[r]
		if len(nodes) == 0 || g == nil {
			continue
		}
		hosts := make([]string, len(nodes))
		for i, n := range nodes {
			hosts[i] = n.Host
		}
		who := fmt.Sprintf("the %s group (%s)", r, strings.Join(hosts, ", "))
		if g.Machine.Image == "" {
			out = append(out, problem{string(r) + ".machine.image", who + " has no AMI: the aws provider launches machine.image", "set machine.image to the AMI id (ami-…) the group's instances boot"})
		}
		if g.Machine.Type == "" {
			out = append(out, problem{string(r) + ".machine.type", who + " has no instance type", "set machine.type, e.g. m6i.large"})
		}
	}
	for _, n := range p.Nodes {
		if !n.InternalIP.Is4() {
			out = append(out, problem{n.Sources[0] + ".internal_ip", fmt.Sprintf("EC2 needs an IPv4 internal ip, %s has %v", n.Host, n.InternalIP), "give the node an IPv4 address of the subnet"})
		}
	}
	return out
}

// Validate implements providers.Provider.
func (e *EC2) Validate(p *plan.Plan, opts providers.Options) []report.Finding {
	var out []report.Finding
	for _, pr := range problems(p, false) {
		out = append(out, p.Finding(report.Error, pr.path, pr.msg, pr.hint))
	}
	return out
}

// Limits implements providers.Provider: both formats (cloud-init only in secrets mode
// ssm: Ignition cannot read SSM); inline, the 16,384 bytes EC2 takes as the provider packs
// the user-data (compressed when it does not fit as it is); ssm, 16 parameters of 8 KiB of
// the gzip+base64 text; s3, no limit kisgen knows of.
func (e *EC2) Limits(p *plan.Plan) providers.Limits {
	switch secretsMode(p) {
	case SecretsSSM:
		return providers.Limits{
			Formats:     []plan.Format{plan.FormatCloudInit},
			MaxUserData: ssmMaxChunks * ssmChunk,
			Measure:     func(m providers.Machine) int { return base64Len(len(gzipBytes(m.UserData))) },
			Counted:     "characters of gzip+base64 in SSM parameters",
			Remedy:      "use secrets mode s3, which takes any size",
		}
	case SecretsS3:
		return providers.Limits{Formats: []plan.Format{plan.FormatCloudInit, plan.FormatIgnition}}
	}
	return providers.Limits{
		Formats:     []plan.Format{plan.FormatCloudInit, plan.FormatIgnition},
		MaxUserData: MaxUserData,
		Measure: func(m providers.Machine) int {
			ud, err := packInline(m)
			if err != nil {
				return len(m.UserData)
			}
			return len(ud.Data)
		},
		Counted: "bytes once packed (gzip when it does not fit as it is)",
		Remedy:  "set provider.aws.secrets to s3 (or ssm for cloud-init): the user-data becomes a small stub and the node fetches the rest at boot with its instance role",
	}
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }

// Inventory implements providers.Provider: the cluster's live instances by their tags,
// each marked recorded when kisgen's record names it, and the API's load balancer and
// target group (those tagged for the cluster, and the ones the plan asks for).
func (e *EC2) Inventory(ctx context.Context, p *plan.Plan, opts providers.Options) ([]providers.Found, error) {
	var rec record
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec); err != nil {
		return nil, err
	}
	region := rec.Region
	if region == "" {
		region = p.Provider.AWS.Region
	}
	c, err := e.clients(ctx, region)
	if err != nil {
		return nil, err
	}
	live, err := findInstances(ctx, c.ec2, p.Name)
	if err != nil {
		return nil, err
	}
	out, err := lbInventory(ctx, c, p, rec, opts)
	if err != nil {
		return nil, err
	}
	for host, in := range live {
		id, st := aws.ToString(in.InstanceId), stateName(in)
		nr := rec.Nodes[host]
		out = append(out, providers.Found{Host: host, ID: id, State: st, Recorded: rec.Cluster == p.Name && nr != nil && nr.InstanceID == id,
			Stopped: slices.Contains([]string{"stopped", "stopping"}, st)})
	}
	return out, nil
}
