package ec2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Destroy implements providers.Provider. It removes what kisgen created for the plan's
// cluster: resources are found by their tags and removed only when kisgen's record lists
// them too; tagged resources missing from the record are reported, not touched. With
// opts.FromTags (a state directory that is gone) everything tagged for the cluster is
// removed, and so are the secrets stored under the cluster's name.
func (e *EC2) Destroy(ctx context.Context, p *plan.Plan, opts providers.Options) error {
	prog := providers.NewProgress(opts.Progress, Name)
	rec := &recorder{stateDir: opts.StateDir}
	found, err := providers.LoadRecord(opts.StateDir, Name, &rec.rec)
	if err != nil {
		return err
	}
	if found && rec.rec.Cluster != p.Name {
		return fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.rec.Cluster, p.Name)
	}
	region := rec.rec.Region
	if region == "" {
		region = p.Provider.AWS.Region
	}
	c, err := e.clients(ctx, region)
	if err != nil {
		return err
	}
	if rec.rec.Nodes == nil {
		rec.rec.Nodes = map[string]*nodeRecord{}
	}

	// The load balancer goes first: its security group cannot go while it exists, and
	// the masters stop serving behind it right after.
	strangers, err := e.destroyAPILoadBalancer(ctx, c, p, rec, opts, prog)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}

	live, err := findInstances(ctx, c.ec2, p.Name)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	recorded := map[string]string{} // instance id -> host
	for host, nr := range rec.rec.Nodes {
		if nr.InstanceID != "" {
			recorded[nr.InstanceID] = host
		}
	}
	var terminate []string
	for host, in := range live {
		id := aws.ToString(in.InstanceId)
		if recorded[id] == host || opts.FromTags {
			terminate = append(terminate, id)
		} else {
			strangers = append(strangers, fmt.Sprintf("instance %s (%s)", id, host))
		}
	}
	sort.Strings(terminate)
	gone := map[string]bool{}
	if len(terminate) > 0 {
		if _, err := c.ec2.TerminateInstances(ctx, &ec2sdk.TerminateInstancesInput{InstanceIds: terminate}); err != nil {
			return errors.Join(append(errs, fmt.Errorf("terminate %s: %w", strings.Join(terminate, ", "), apiErr(err)))...)
		}
		prog.Printf("terminating %s", strings.Join(terminate, ", "))
		if err := e.waitTerminated(ctx, c.ec2, terminate); err != nil {
			errs = append(errs, err)
		} else {
			prog.Printf("terminated %s", strings.Join(terminate, ", "))
			for _, id := range terminate {
				gone[id] = true
			}
		}
	}
	// Instances gone (now or earlier) leave the record; so do their leftover secrets,
	// stored for nodes that never booted to fetch and delete them.
	hosts := make([]string, 0, len(rec.rec.Nodes))
	for host := range rec.rec.Nodes {
		hosts = append(hosts, host)
	}
	sort.Strings(hosts)
	for _, host := range hosts {
		nr := rec.rec.Nodes[host]
		if _, alive := live[host]; alive && !gone[nr.InstanceID] {
			continue
		}
		if err := deleteSecret(ctx, c, nr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", host, err))
		}
		if nr.S3Object == "" && len(nr.SSMParameters) == 0 {
			if err := rec.update(func(r *record) { delete(r.Nodes, host) }); err != nil {
				return err
			}
		}
	}

	if opts.FromTags {
		// Without a record, the secrets of nodes that never booted are found by their
		// names, which carry the cluster's.
		if err := sweepSecrets(ctx, c, p, prog); err != nil {
			errs = append(errs, err)
		}
	}

	sgs, err := c.ec2.DescribeSecurityGroups(ctx, &ec2sdk.DescribeSecurityGroupsInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{p.Name}},
	}})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("find the cluster's security groups: %w", apiErr(err)))...)
	}
	// EC2 refuses to delete a group another group's rule names: the role groups go first
	// (the master group admits the load balancer's), then the load balancer's (it admits
	// the cluster group's), then the cluster group, the one every node was in.
	sort.SliceStable(sgs.SecurityGroups, func(i, j int) bool {
		return rec.deleteRank(p, sgs.SecurityGroups[i]) < rec.deleteRank(p, sgs.SecurityGroups[j])
	})
	liveGroups := map[string]bool{}
	for _, sg := range sgs.SecurityGroups {
		id := aws.ToString(sg.GroupId)
		liveGroups[id] = true
		if !rec.recordsGroup(id) && !opts.FromTags {
			strangers = append(strangers, fmt.Sprintf("security group %s (%s)", id, aws.ToString(sg.GroupName)))
			continue
		}
		if err := e.deleteSecurityGroup(ctx, c.ec2, id); err != nil {
			errs = append(errs, err)
			continue
		}
		prog.Printf("deleted security group %s (%s)", id, aws.ToString(sg.GroupName))
		if err := rec.update(func(r *record) { r.forgetGroup(id) }); err != nil {
			return err
		}
	}
	for _, id := range rec.groups() {
		if !liveGroups[id] {
			if err := rec.update(func(r *record) { r.forgetGroup(id) }); err != nil { // deleted by someone else
				return err
			}
		}
	}

	if len(strangers) > 0 {
		sort.Strings(strangers)
		errs = append(errs, fmt.Errorf("%w: %s (kisgen removes only what its record at %s lists; remove these yourself if they are this cluster's)",
			ErrNotRecorded, strings.Join(strangers, ", "), providers.RecordPath(opts.StateDir, Name)))
	}
	if len(rec.rec.Nodes) == 0 && len(rec.groups()) == 0 && rec.rec.LoadBalancer == nil && found {
		if err := os.Remove(providers.RecordPath(opts.StateDir, Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(terminate) == 0 && len(errs) == 0 {
		prog.Printf("no instances of cluster %s left", p.Name)
	}
	return errors.Join(errs...)
}

// groups lists the security groups the record names.
func (r *recorder) groups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if r.rec.SecurityGroup != "" {
		out = append(out, r.rec.SecurityGroup)
	}
	if r.rec.LoadBalancerSecurityGroup != "" {
		out = append(out, r.rec.LoadBalancerSecurityGroup)
	}
	for _, id := range r.rec.RoleSecurityGroups {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (r *recorder) recordsGroup(id string) bool {
	for _, g := range r.groups() {
		if g == id {
			return true
		}
	}
	return false
}

// deleteRank orders the cluster's groups for deletion: role groups 0, the load
// balancer's 1, the cluster's 2; by the record, or by name when there is none.
func (r *recorder) deleteRank(p *plan.Plan, sg types.SecurityGroup) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, name := aws.ToString(sg.GroupId), aws.ToString(sg.GroupName)
	switch {
	case id == r.rec.SecurityGroup || name == SecurityGroupName(p.Name):
		return 2
	case id == r.rec.LoadBalancerSecurityGroup || name == LoadBalancerSecurityGroupName(p.Name):
		return 1
	}
	return 0
}

// forgetGroup removes a security group from the record.
func (r *record) forgetGroup(id string) {
	if r.SecurityGroup == id {
		r.SecurityGroup = ""
	}
	if r.LoadBalancerSecurityGroup == id {
		r.LoadBalancerSecurityGroup = ""
	}
	for role, g := range r.RoleSecurityGroups {
		if g == id {
			delete(r.RoleSecurityGroups, role)
		}
	}
}

// waitTerminated polls until every instance is terminated (or no longer listed).
func (e *EC2) waitTerminated(ctx context.Context, api *ec2sdk.Client, ids []string) error {
	deadline := time.Now().Add(e.timeout())
	for {
		out, err := api.DescribeInstances(ctx, &ec2sdk.DescribeInstancesInput{InstanceIds: ids})
		if isCode(err, "InvalidInstanceID.NotFound") {
			return nil
		}
		if err != nil {
			return fmt.Errorf("wait for termination: %w", apiErr(err))
		}
		pending := 0
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				if stateName(in) != "terminated" {
					pending++
				}
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d instances not terminated after %s", ErrTimeout, pending, e.timeout())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.poll()):
		}
	}
}

// deleteSecurityGroup retries while EC2 still counts terminating instances as members.
func (e *EC2) deleteSecurityGroup(ctx context.Context, api *ec2sdk.Client, id string) error {
	deadline := time.Now().Add(e.timeout())
	for {
		_, err := api.DeleteSecurityGroup(ctx, &ec2sdk.DeleteSecurityGroupInput{GroupId: aws.String(id)})
		if err == nil || isCode(err, "InvalidGroup.NotFound") {
			return nil
		}
		if !isCode(err, "DependencyViolation") || time.Now().After(deadline) {
			return fmt.Errorf("delete security group %s: %w", id, apiErr(err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.poll()):
		}
	}
}
