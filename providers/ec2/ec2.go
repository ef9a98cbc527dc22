package ec2

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	ec2sdk "github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// Name is the provider's name on the command line and in the plan.
const Name = "aws"

// Tags kisgen puts on everything it creates, and finds it again by.
const (
	TagCluster = "kisgen.io/cluster"
	TagHost    = "kisgen.io/host"
	TagRoles   = "kisgen.io/roles"
)

func init() {
	providers.Register(Name, func() providers.Provider { return &EC2{} })
}

var _ providers.Provider = (*EC2)(nil)

// EC2 launches one instance per node. The zero value uses the AWS configuration chain
// and real AWS endpoints; tests point the clients at in-process servers.
type EC2 struct {
	// LoadConfig returns the AWS configuration. Nil: config.LoadDefaultConfig with the
	// plan's region (environment, shared files, SSO, instance and container roles).
	LoadConfig func(ctx context.Context, region string) (aws.Config, error)
	// Client options, e.g. a BaseEndpoint for an AWS-compatible service.
	EC2Options []func(*ec2sdk.Options)
	ELBOptions []func(*elbv2.Options)
	S3Options  []func(*s3.Options)
	SSMOptions []func(*ssm.Options)
	// PollInterval is the pause between state checks (default 5s); WaitTimeout bounds the
	// wait for an instance to run or terminate (default 10m).
	PollInterval time.Duration
	WaitTimeout  time.Duration
	// Concurrency is how many nodes are launched at once (default 8).
	Concurrency int
	// MaxAttempts bounds the attempts of one API call that fails with throttling
	// (RequestLimitExceeded, ThrottlingException, SlowDown…), a server error (5xx) or a
	// broken connection (default 10); MaxBackoff caps the exponential, jittered pause
	// between attempts (default 20s).
	MaxAttempts int
	MaxBackoff  time.Duration

	// nodeEndpoints gives the URLs the node-side secrets stubs use; nil: real AWS.
	nodeEndpoints func(region string) nodeEndpoints
}

// Name implements providers.Provider.
func (e *EC2) Name() string { return Name }

// record is what kisgen created, kept in STATE/providers/aws.json.
type record struct {
	Cluster string `json:"cluster"`
	Region  string `json:"region"`
	// SecurityGroup is the cluster group, which every node is in; RoleSecurityGroups
	// the group of each role's nodes; LoadBalancerSecurityGroup the API load balancer's.
	SecurityGroup             string               `json:"securityGroup,omitempty"`
	RoleSecurityGroups        map[plan.Role]string `json:"roleSecurityGroups,omitempty"`
	LoadBalancerSecurityGroup string               `json:"loadBalancerSecurityGroup,omitempty"`
	// LoadBalancer is the API's Network Load Balancer, its listener and target group.
	LoadBalancer *lbRecord              `json:"loadBalancer,omitempty"`
	Nodes        map[string]*nodeRecord `json:"nodes,omitempty"`
}

type nodeRecord struct {
	// ClientToken makes RunInstances idempotent: it is saved before the call, so a retry
	// after a crash gets the same instance back instead of a second one.
	ClientToken   string   `json:"clientToken"`
	InstanceID    string   `json:"instanceId,omitempty"`
	S3Object      string   `json:"s3Object,omitempty"`
	SSMParameters []string `json:"ssmParameters,omitempty"`
}

// recorder serialises updates of the record and saves it after each one.
type recorder struct {
	mu       sync.Mutex
	stateDir string
	rec      record
}

func (r *recorder) update(fn func(*record)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.rec)
	return providers.SaveRecord(r.stateDir, Name, &r.rec)
}

func (r *recorder) node(host string) nodeRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.rec.Nodes[host]; n != nil {
		return *n
	}
	return nodeRecord{}
}

type clients struct {
	ec2    *ec2sdk.Client
	elb    *elbv2.Client
	s3     *s3.Client
	ssm    *ssm.Client
	region string
}

func (e *EC2) clients(ctx context.Context, region string) (clients, error) {
	load := e.LoadConfig
	if load == nil {
		load = func(ctx context.Context, region string) (aws.Config, error) {
			var opts []func(*config.LoadOptions) error
			if region != "" {
				opts = append(opts, config.WithRegion(region))
			}
			return config.LoadDefaultConfig(ctx, opts...)
		}
	}
	cfg, err := load(ctx, region)
	if err != nil {
		return clients{}, fmt.Errorf("load the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return clients{}, fmt.Errorf("%w: provider.aws.region: no region in the plan nor in the AWS configuration (AWS_REGION, ~/.aws/config)", providers.ErrSetting)
	}
	next := cfg.HTTPClient
	if next == nil {
		next = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = bodyGuard{next: next}
	cfg.Retryer = e.retryer
	return clients{
		ec2:    ec2sdk.NewFromConfig(cfg, e.EC2Options...),
		elb:    elbv2.NewFromConfig(cfg, e.ELBOptions...),
		s3:     s3.NewFromConfig(cfg, e.S3Options...),
		ssm:    ssm.NewFromConfig(cfg, e.SSMOptions...),
		region: cfg.Region,
	}, nil
}

// retryer is the SDK's standard retryer (it retries throttling codes, 5xx answers and
// broken connections, with exponential backoff and jitter) with kisgen's bounds, and
// without the standard retryer's client-side retry quota: a cluster's nodes are launched
// at once, and one burst of throttling would drain the quota and fail the remaining calls
// at once, which is the opposite of backing off.
func (e *EC2) retryer() aws.Retryer {
	attempts, backoff := e.MaxAttempts, e.MaxBackoff
	if attempts <= 0 {
		attempts = 10
	}
	if backoff <= 0 {
		backoff = 20 * time.Second
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.MaxBackoff = backoff
		o.RateLimiter = ratelimit.None
	})
}

func (e *EC2) poll() time.Duration {
	if e.PollInterval > 0 {
		return e.PollInterval
	}
	return 5 * time.Second
}

func (e *EC2) timeout() time.Duration {
	if e.WaitTimeout > 0 {
		return e.WaitTimeout
	}
	return 10 * time.Minute
}

// launch is one node's RunInstances settings, worked out before any API call.
type launch struct {
	m providers.Machine
	// subnet is the plan's subnet that holds the node's internal ip: the only one, or
	// the one preflight finds.
	subnet string
	ami    string
	itype  string
	diskGB int
	// rootDevice is the AMI's root device name, for the disk size; from DescribeImages.
	rootDevice string
	userData   userData
	secret     *secretLocation
}

// prepare checks everything that can be checked without AWS and packs each node's
// user-data. A node whose user-data does not fit is refused here, before any call.
func (e *EC2) prepare(p *plan.Plan, machines []providers.Machine, region string) ([]launch, error) {
	cfg := p.Provider.AWS
	mode := secretsMode(p)
	var errs []error
	for _, pr := range problems(p, true) {
		errs = append(errs, fmt.Errorf("%w: %s: %s: %s", providers.ErrSetting, pr.path, pr.msg, pr.hint))
	}
	ends := awsEndpoints(region)
	if e.nodeEndpoints != nil {
		ends = e.nodeEndpoints(region)
	}
	var out []launch
	for _, m := range machines {
		n := m.Node
		g := n.Group
		l := launch{m: m, ami: g.Machine.Image, itype: g.Machine.Type, diskGB: g.Machine.DiskGB}
		if subs := cfg.Subnets(); len(subs) == 1 {
			l.subnet = subs[0]
		}
		var err error
		switch mode {
		case SecretsInline:
			l.userData, err = inlineUserData(m)
		default:
			var loc secretLocation
			l.userData, loc, err = secretStub(p.Name, m, mode, cfg.SecretsBucket, region, ends)
			l.secret = &loc
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, l)
	}
	return out, errors.Join(errs...)
}

// SecretsNotice says who can read the nodes' secrets in a mode; Provision prints it.
func SecretsNotice(mode, bucket string) string {
	switch mode {
	case SecretsS3:
		return fmt.Sprintf("secrets mode s3: each node's user-data is a stub; the real user-data (private keys) is an object in s3://%s/kisgen/… that the node's instance role reads once at boot and then deletes", bucket)
	case SecretsSSM:
		return "secrets mode ssm: each node's user-data is a stub; the real user-data (private keys) is kept in SSM SecureString parameters under /kisgen/… that the node's instance role reads once at boot and then deletes"
	default:
		return "secrets mode inline: the user-data holds the nodes' private keys; anyone allowed ec2:DescribeInstanceAttribute, and anything on an instance that reaches its metadata service, can read them (set provider.aws.secrets: s3 or ssm to avoid this)"
	}
}

// Provision implements providers.Provider.
func (e *EC2) Provision(ctx context.Context, p *plan.Plan, machines []providers.Machine, opts providers.Options) ([]providers.Instance, error) {
	prog := providers.NewProgress(opts.Progress, Name)
	cfg := p.Provider.AWS
	// Everything that can fail without AWS fails first, before any call (the stubs'
	// region is not known yet; their size barely depends on it).
	if _, err := e.prepare(p, machines, cfg.Region); err != nil {
		return nil, err
	}
	c, err := e.clients(ctx, cfg.Region)
	if err != nil {
		return nil, err
	}
	launches, err := e.prepare(p, machines, c.region)
	if err != nil {
		return nil, err
	}
	mode := cfg.Secrets
	if mode == "" {
		mode = SecretsInline
	}
	prog.Printf("%s", SecretsNotice(mode, cfg.SecretsBucket))

	rec := &recorder{stateDir: opts.StateDir}
	if _, err := providers.LoadRecord(opts.StateDir, Name, &rec.rec); err != nil {
		return nil, err
	}
	if rec.rec.Cluster != "" && rec.rec.Cluster != p.Name {
		return nil, fmt.Errorf("%w: %s records cluster %q, the plan is %q", providers.ErrBadRecord, providers.RecordPath(opts.StateDir, Name), rec.rec.Cluster, p.Name)
	}
	rec.rec.Cluster, rec.rec.Region = p.Name, c.region
	if rec.rec.Nodes == nil {
		rec.rec.Nodes = map[string]*nodeRecord{}
	}

	nw, err := e.preflight(ctx, c, p, launches)
	if err != nil {
		return nil, err
	}
	if mode == SecretsS3 {
		if err := checkBucket(ctx, c, cfg.SecretsBucket); err != nil {
			return nil, err
		}
	}
	sg, err := e.ensureSecurityGroups(ctx, c, p, nw.vpc, rec, prog)
	if err != nil {
		return nil, err
	}
	// The load balancer comes before the instances: what can go wrong with it (a name
	// taken, a setting AWS cannot change) stops the run before anything is launched, and
	// AWS makes it active (minutes) while the instances boot.
	var lb apiLoadBalancer
	if p.CreatesAWSLoadBalancer() {
		if lb, err = e.ensureAPILoadBalancer(ctx, c, p, nw, sg, rec, prog); err != nil {
			return nil, err
		}
	} else if r := rec.loadBalancer(); r.ARN != "" {
		prog.Printf("load balancer %s kept: the plan asks for none now (provision --destroy removes it)", r.Name)
	}
	existing, err := findInstances(ctx, c.ec2, p.Name)
	if err != nil {
		return nil, err
	}

	byHost := map[string]launch{}
	ms := make([]providers.Machine, 0, len(launches))
	for _, l := range launches {
		byHost[l.m.Node.Host] = l
		ms = append(ms, l.m)
	}
	var mu sync.Mutex
	results := map[string]providers.Instance{}
	limit := e.Concurrency
	if limit <= 0 {
		limit = 8
	}
	err = providers.ForEach(ctx, ms, limit, func(ctx context.Context, m providers.Machine) error {
		in, err := e.provisionNode(ctx, c, p, byHost[m.Node.Host], sg, existing[m.Node.Host], rec, prog)
		if in.ID != "" {
			mu.Lock()
			results[m.Node.Host] = in
			mu.Unlock()
		}
		return err
	})
	var out []providers.Instance
	for _, m := range ms {
		if in, ok := results[m.Node.Host]; ok {
			out = append(out, in)
		}
	}
	if lb.targetGroup != "" {
		// The masters that run are registered even when another node failed: the load
		// balancer serves the API as soon as one master answers.
		if rerr := e.registerMasters(ctx, c, p, lb, out, existing, prog); rerr != nil {
			err = errors.Join(err, rerr)
		}
		lb.announce(p, prog)
	}
	return out, err
}

// network is where the nodes go: the plan's subnets as EC2 describes them, in the plan's
// order, and their VPC.
type network struct {
	vpc     string
	subnets []subnetInfo
}

type subnetInfo struct {
	id, zone string
	cidr     netip.Prefix
}

func (s subnetInfo) String() string { return fmt.Sprintf("%s (%s, %s)", s.id, s.zone, s.cidr) }

// loadBalancerSubnets are the subnets a load balancer spans: one per availability zone
// (ELB takes no more), the first the plan lists in each.
func (n network) loadBalancerSubnets() []subnetInfo {
	var out []subnetInfo
	seen := map[string]bool{}
	for _, s := range n.subnets {
		if !seen[s.zone] {
			seen[s.zone] = true
			out = append(out, s)
		}
	}
	return out
}

// subnetsPath is the plan key that names the subnets, for messages.
func subnetsPath(cfg plan.AWSProvider) string {
	if len(cfg.SubnetIDs) == 0 {
		return "provider.aws.subnet_id"
	}
	return "provider.aws.subnet_ids"
}

// preflight checks the subnets, AMIs and key pair, puts each node into the subnet that
// holds its internal ip, and returns the subnets and their VPC.
func (e *EC2) preflight(ctx context.Context, c clients, p *plan.Plan, launches []launch) (network, error) {
	cfg := p.Provider.AWS
	ids := cfg.Subnets()
	where := subnetsPath(cfg)
	subs, err := c.ec2.DescribeSubnets(ctx, &ec2sdk.DescribeSubnetsInput{SubnetIds: ids})
	if err != nil && !isCode(err, "InvalidSubnetID.NotFound") {
		// Throttling and server errors were retried already: this one is not about the subnet.
		return network{}, fmt.Errorf("describe subnets %s in %s: %w", strings.Join(ids, ", "), c.region, apiErr(err))
	}
	if err != nil {
		return network{}, fmt.Errorf("%w: %s: subnets %s in %s: %v", ErrNotFound, where, strings.Join(ids, ", "), c.region, apiErr(err))
	}
	byID := map[string]types.Subnet{}
	for _, s := range subs.Subnets {
		byID[aws.ToString(s.SubnetId)] = s
	}
	var nw network
	vpcs := map[string][]string{}
	for _, id := range ids {
		s, ok := byID[id]
		if !ok {
			return network{}, fmt.Errorf("%w: %s: subnet %s in %s", ErrNotFound, where, id, c.region)
		}
		pfx, _ := netip.ParsePrefix(aws.ToString(s.CidrBlock))
		nw.subnets = append(nw.subnets, subnetInfo{id: id, zone: aws.ToString(s.AvailabilityZone), cidr: pfx})
		vpc := aws.ToString(s.VpcId)
		if len(vpcs[vpc]) == 0 && nw.vpc == "" {
			nw.vpc = vpc
		}
		vpcs[vpc] = append(vpcs[vpc], id)
	}
	if len(vpcs) > 1 {
		var parts []string
		for _, v := range slices.Sorted(maps.Keys(vpcs)) {
			parts = append(parts, fmt.Sprintf("%s in %s", strings.Join(vpcs[v], ", "), v))
		}
		return network{}, fmt.Errorf("%w: %s: the subnets are in different VPCs (%s): kisgen's security groups and load balancer belong to one VPC", providers.ErrSetting, where, strings.Join(parts, "; "))
	}
	if cfg.VPCID != "" && cfg.VPCID != nw.vpc {
		return network{}, fmt.Errorf("%w: provider.aws.vpc_id is %s but subnet %s belongs to %s", providers.ErrSetting, cfg.VPCID, ids[0], nw.vpc)
	}
	var errs []error
	used := map[string][]string{} // subnet -> hosts
	for i, l := range launches {
		ip := l.m.Node.InternalIP
		var in *subnetInfo
		for j := range nw.subnets {
			if nw.subnets[j].cidr.Contains(ip) {
				in = &nw.subnets[j]
				break
			}
		}
		switch {
		case in == nil && len(nw.subnets) == 1:
			errs = append(errs, fmt.Errorf("%w: node %s: internal ip %s is outside subnet %s (%s)", providers.ErrSetting, l.m.Node.Host, ip, nw.subnets[0].id, nw.subnets[0].cidr))
		case in == nil:
			list := make([]string, len(nw.subnets))
			for j, s := range nw.subnets {
				list[j] = s.String()
			}
			errs = append(errs, fmt.Errorf("%w: node %s: internal ip %s is in none of the plan's subnets: %s", providers.ErrSetting, l.m.Node.Host, ip, strings.Join(list, ", ")))
		case reserved(in.cidr, ip):
			errs = append(errs, fmt.Errorf("%w: node %s: internal ip %s is one of the 5 addresses AWS reserves in %s", providers.ErrSetting, l.m.Node.Host, ip, in.cidr))
		default:
			launches[i].subnet = in.id
			used[in.id] = append(used[in.id], l.m.Node.Host)
		}
	}
	if routesPodAddresses(p) && len(used) > 1 {
		var parts []string
		for _, id := range slices.Sorted(maps.Keys(used)) {
			parts = append(parts, fmt.Sprintf("%s in %s", strings.Join(used[id], ", "), id))
		}
		errs = append(errs, fmt.Errorf("%w: %s pod traffic needs every node in one subnet (the VPC's route tables know nothing of the pod ranges), but the nodes are in several: %s; use Calico's overlay mode, or one subnet",
			providers.ErrSetting, podTraffic(p), strings.Join(parts, "; ")))
	}
	amis := map[string]bool{}
	for _, l := range launches {
		amis[l.ami] = true
	}
	ids = make([]string, 0, len(amis))
	for id := range amis {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	imgs, err := c.ec2.DescribeImages(ctx, &ec2sdk.DescribeImagesInput{ImageIds: ids})
	switch {
	case isCode(err, "InvalidAMIID.NotFound", "InvalidAMIID.Malformed", "InvalidAMIID.Unavailable"):
		errs = append(errs, fmt.Errorf("%w: AMIs %s in %s: %v", ErrNotFound, strings.Join(ids, ", "), c.region, apiErr(err)))
	case err != nil:
		errs = append(errs, fmt.Errorf("describe AMIs %s in %s: %w", strings.Join(ids, ", "), c.region, apiErr(err)))
	default:
		found := map[string]string{}
		for _, img := range imgs.Images {
			found[aws.ToString(img.ImageId)] = aws.ToString(img.RootDeviceName)
		}
		for _, id := range ids {
			if _, ok := found[id]; !ok {
				errs = append(errs, fmt.Errorf("%w: AMI %s in %s (machine.image of a node group)", ErrNotFound, id, c.region))
			}
		}
		for i := range launches {
			launches[i].rootDevice = found[launches[i].ami]
		}
	}
	if cfg.KeyName != "" {
		_, err := c.ec2.DescribeKeyPairs(ctx, &ec2sdk.DescribeKeyPairsInput{KeyNames: []string{cfg.KeyName}})
		switch {
		case isCode(err, "InvalidKeyPair.NotFound"):
			errs = append(errs, fmt.Errorf("%w: provider.aws.key_name: key pair %q in %s: %v", ErrNotFound, cfg.KeyName, c.region, apiErr(err)))
		case err != nil:
			errs = append(errs, fmt.Errorf("describe key pair %q in %s: %w", cfg.KeyName, c.region, apiErr(err)))
		}
	}
	return nw, errors.Join(errs...)
}

// reserved reports whether ip is one of the addresses AWS keeps in every subnet: the
// network address, the next three, and the last.
func reserved(pfx netip.Prefix, ip netip.Addr) bool {
	a := pfx.Masked().Addr()
	for i := 0; i < 4; i++ {
		if ip == a {
			return true
		}
		a = a.Next()
	}
	last := pfx.Masked().Addr().As4()
	hostBits := 32 - pfx.Bits()
	v := uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3])
	v |= (1 << hostBits) - 1
	return ip == netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func tags(p *plan.Plan, n *plan.Node) []types.Tag {
	roles := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		roles[i] = string(r)
	}
	return []types.Tag{
		{Key: aws.String("Name"), Value: aws.String(p.Name + "-" + n.Host)},
		{Key: aws.String(TagCluster), Value: aws.String(p.Name)},
		{Key: aws.String(TagHost), Value: aws.String(n.Host)},
		{Key: aws.String(TagRoles), Value: aws.String(strings.Join(roles, ","))},
	}
}

// liveStates are the states of an instance that still exists for kisgen's purposes.
var liveStates = []string{"pending", "running", "stopping", "stopped"}

// findInstances returns the cluster's live instances by host tag.
func findInstances(ctx context.Context, api ec2sdk.DescribeInstancesAPIClient, cluster string) (map[string]types.Instance, error) {
	out := map[string]types.Instance{}
	pg := ec2sdk.NewDescribeInstancesPaginator(api, &ec2sdk.DescribeInstancesInput{Filters: []types.Filter{
		{Name: aws.String("tag:" + TagCluster), Values: []string{cluster}},
		{Name: aws.String("instance-state-name"), Values: liveStates},
	}})
	var errs []error
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("find the cluster's instances: %w", apiErr(err))
		}
		for _, r := range page.Reservations {
			for _, in := range r.Instances {
				host := tagValue(in.Tags, TagHost)
				if host == "" {
					continue
				}
				if prev, dup := out[host]; dup {
					errs = append(errs, fmt.Errorf("node %s: two instances carry its tags: %s and %s (terminate the one you do not want)", host, aws.ToString(prev.InstanceId), aws.ToString(in.InstanceId)))
					continue
				}
				out[host] = in
			}
		}
	}
	return out, errors.Join(errs...)
}

func tagValue(ts []types.Tag, key string) string {
	for _, t := range ts {
		if aws.ToString(t.Key) == key {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return "kisgen-" + hex.EncodeToString(b)
}

func (e *EC2) provisionNode(ctx context.Context, c clients, p *plan.Plan, l launch, sg securityGroups, found types.Instance, rec *recorder, prog *providers.Progress) (providers.Instance, error) {
	n := l.m.Node
	host := n.Host
	if found.InstanceId == nil {
		// Tags show up in DescribeInstances' filters a little after a launch: an instance
		// the record names is looked up by id before anything is launched anew.
		if id := rec.node(host).InstanceID; id != "" {
			out, err := c.ec2.DescribeInstances(ctx, &ec2sdk.DescribeInstancesInput{InstanceIds: []string{id}})
			if err != nil && !isCode(err, "InvalidInstanceID.NotFound") {
				return providers.Instance{}, fmt.Errorf("look up %s: %w", id, apiErr(err))
			}
			if err == nil {
				for _, r := range out.Reservations {
					for _, in := range r.Instances {
						if slices.Contains(liveStates, stateName(in)) {
							found = in
						}
					}
				}
			}
		}
	}
	id := aws.ToString(found.InstanceId)
	created := false
	if id != "" {
		if r := rec.node(host); r.InstanceID != id {
			prog.Node(host, "found %s (%s), tagged for this cluster but not in kisgen's record: left as it is", id, stateName(found))
		} else {
			prog.Node(host, "found %s (%s)", id, stateName(found))
		}
		if err := e.enforceIMDSv2(ctx, c, found, prog, host); err != nil {
			return providers.Instance{Host: host, ID: id}, err
		}
		if err := e.ensureGroupsOf(ctx, c, found, sg.forNode(n), prog, host); err != nil {
			return providers.Instance{Host: host, ID: id}, err
		}
	} else {
		var token string
		if err := rec.update(func(r *record) {
			nr := r.Nodes[host]
			if nr == nil {
				nr = &nodeRecord{}
				r.Nodes[host] = nr
			}
			if nr.ClientToken == "" || nr.InstanceID != "" {
				// A new launch: the previous instance, if any, is gone.
				nr.ClientToken, nr.InstanceID = newToken(), ""
			}
			token = nr.ClientToken
		}); err != nil {
			return providers.Instance{}, err
		}
		if l.secret != nil {
			if err := e.storeSecret(ctx, c, p, n, l.secret, rec); err != nil {
				return providers.Instance{}, err
			}
			prog.Node(host, "user-data stored at %s (readable by the instance role only, deleted by the node after use)", l.secret.where())
		}
		in := &ec2sdk.RunInstancesInput{
			ClientToken:      aws.String(token),
			ImageId:          aws.String(l.ami),
			InstanceType:     types.InstanceType(l.itype),
			MinCount:         aws.Int32(1),
			MaxCount:         aws.Int32(1),
			SubnetId:         aws.String(l.subnet),
			PrivateIpAddress: aws.String(n.InternalIP.String()),
			SecurityGroupIds: sg.forNode(n),
			UserData:         aws.String(base64.StdEncoding.EncodeToString(l.userData.Data)),
			MetadataOptions: &types.InstanceMetadataOptionsRequest{
				HttpEndpoint:            types.InstanceMetadataEndpointStateEnabled,
				HttpTokens:              types.HttpTokensStateRequired,
				HttpPutResponseHopLimit: aws.Int32(1),
			},
			TagSpecifications: []types.TagSpecification{
				{ResourceType: types.ResourceTypeInstance, Tags: tags(p, n)},
				{ResourceType: types.ResourceTypeVolume, Tags: tags(p, n)},
			},
		}
		if k := p.Provider.AWS.KeyName; k != "" {
			in.KeyName = aws.String(k)
		}
		if prof := p.Provider.AWS.InstanceProfile; prof != "" {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(prof)}
		}
		if l.diskGB > 0 && l.rootDevice != "" {
			in.BlockDeviceMappings = []types.BlockDeviceMapping{{
				DeviceName: aws.String(l.rootDevice),
				Ebs: &types.EbsBlockDevice{
					VolumeSize:          aws.Int32(int32(l.diskGB)),
					VolumeType:          types.VolumeTypeGp3,
					Encrypted:           aws.Bool(true),
					DeleteOnTermination: aws.Bool(true),
				},
			}}
		}
		out, err := c.ec2.RunInstances(ctx, in)
		if err != nil {
			return providers.Instance{}, fmt.Errorf("run instance: %w", apiErr(err))
		}
		if len(out.Instances) != 1 {
			return providers.Instance{}, fmt.Errorf("run instance: EC2 returned %d instances for one", len(out.Instances))
		}
		id = aws.ToString(out.Instances[0].InstanceId)
		created = true
		if err := rec.update(func(r *record) { r.Nodes[host].InstanceID = id }); err != nil {
			return providers.Instance{Host: host, ID: id, Created: true}, err
		}
		prog.Node(host, "launched %s (%s, %s, %s; user-data %s)", id, l.itype, l.ami, n.InternalIP, l.userData.How)
	}
	if st := stateName(found); st == "stopped" || st == "stopping" {
		// A stopped node is no node of a running cluster: kisgen starts the instances it
		// launched, and reports the others rather than leave them silently stopped.
		if rec.node(host).InstanceID != id {
			return instanceOf(p, n, found, false), fmt.Errorf("%w: %s is %s and not in kisgen's record, so kisgen leaves it alone: start it (in the console, or with the AWS CLI's ec2 start-instances) or terminate it, then run provision again", ErrStopped, id, st)
		}
		if err := e.start(ctx, c.ec2, id, st); err != nil {
			return providers.Instance{Host: host, ID: id, State: st}, err
		}
		prog.Node(host, "%s was %s: started", id, st)
	}
	in, err := e.waitRunning(ctx, c.ec2, id)
	if err != nil {
		return providers.Instance{Host: host, ID: id, Created: created, State: "unknown"}, err
	}
	prog.Node(host, "%s is %s", id, stateName(in))
	if routesPodAddresses(p) && aws.ToBool(in.SourceDestCheck) {
		// Routed pod traffic leaves the node with a pod's address as source and reaches it
		// with one as destination: EC2 drops both unless the check is off.
		if _, err := c.ec2.ModifyInstanceAttribute(ctx, &ec2sdk.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), SourceDestCheck: &types.AttributeBooleanValue{Value: aws.Bool(false)},
		}); err != nil {
			return instanceOf(p, n, in, created), fmt.Errorf("turn off the source/destination check of %s (needed for %s pod traffic): %w", id, podTraffic(p), apiErr(err))
		}
		prog.Node(host, "%s: source/destination check turned off: %s pod traffic crosses the VPC with pod addresses", id, podTraffic(p))
	}
	return instanceOf(p, n, in, created), nil
}

// podTraffic names how the plan's pod traffic crosses between nodes, for messages.
func podTraffic(p *plan.Plan) string {
	if p.Network.CNIProvider == "calico" {
		return "Calico " + string(p.Network.Mode)
	}
	return p.Network.CNIProvider
}

// ensureGroupsOf puts an instance found from an earlier run into the security groups its
// node needs (an instance launched before the groups per role existed is in the cluster
// group only), keeping the groups it is in.
func (e *EC2) ensureGroupsOf(ctx context.Context, c clients, in types.Instance, need []string, prog *providers.Progress, host string) error {
	var have []string
	for _, g := range in.SecurityGroups {
		have = append(have, aws.ToString(g.GroupId))
	}
	var missing []string
	for _, id := range need {
		if !slices.Contains(have, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := c.ec2.ModifyInstanceAttribute(ctx, &ec2sdk.ModifyInstanceAttributeInput{
		InstanceId: in.InstanceId, Groups: append(have, missing...),
	}); err != nil {
		return fmt.Errorf("add %s to security groups %s: %w", aws.ToString(in.InstanceId), strings.Join(missing, ", "), apiErr(err))
	}
	prog.Node(host, "%s added to security groups %s", aws.ToString(in.InstanceId), strings.Join(missing, ", "))
	return nil
}

func stateName(in types.Instance) string {
	if in.State == nil {
		return ""
	}
	return string(in.State.Name)
}

// instanceOf is what Provision returns for a node's instance; verify reaches it at the
// plan's ip when the instance holds it, else at its public, then its private address.
func instanceOf(p *plan.Plan, n *plan.Node, in types.Instance, created bool) providers.Instance {
	public, private := aws.ToString(in.PublicIpAddress), aws.ToString(in.PrivateIpAddress)
	return providers.Instance{
		Host:      n.Host,
		ID:        aws.ToString(in.InstanceId),
		State:     stateName(in),
		PublicIP:  public,
		PrivateIP: private,
		SSHAddr:   providers.SSHAddress(p, n, public, private),
		Created:   created,
	}
}

// enforceIMDSv2 makes an instance found from an earlier run require IMDSv2 tokens with a
// hop limit of 1, as new ones are launched.
func (e *EC2) enforceIMDSv2(ctx context.Context, c clients, in types.Instance, prog *providers.Progress, host string) error {
	mo := in.MetadataOptions
	if mo != nil && mo.HttpTokens == types.HttpTokensStateRequired && aws.ToInt32(mo.HttpPutResponseHopLimit) == 1 {
		return nil
	}
	_, err := c.ec2.ModifyInstanceMetadataOptions(ctx, &ec2sdk.ModifyInstanceMetadataOptionsInput{
		InstanceId:              in.InstanceId,
		HttpTokens:              types.HttpTokensStateRequired,
		HttpPutResponseHopLimit: aws.Int32(1),
		HttpEndpoint:            types.InstanceMetadataEndpointStateEnabled,
	})
	if err != nil {
		return fmt.Errorf("require IMDSv2 on %s: %w", aws.ToString(in.InstanceId), apiErr(err))
	}
	prog.Node(host, "%s now requires IMDSv2 tokens (hop limit 1)", aws.ToString(in.InstanceId))
	return nil
}

// start starts a stopped instance, after waiting for one that is stopping to stop.
func (e *EC2) start(ctx context.Context, api *ec2sdk.Client, id, state string) error {
	if state == "stopping" {
		if _, err := e.waitState(ctx, api, id, "stopped"); err != nil {
			return err
		}
	}
	if _, err := api.StartInstances(ctx, &ec2sdk.StartInstancesInput{InstanceIds: []string{id}}); err != nil {
		return fmt.Errorf("start %s: %w", id, apiErr(err))
	}
	return nil
}

// waitRunning polls until the instance runs.
func (e *EC2) waitRunning(ctx context.Context, api *ec2sdk.Client, id string) (types.Instance, error) {
	return e.waitState(ctx, api, id, "running")
}

// waitState polls until the instance is in state want; an instance that terminates
// meanwhile is an error.
func (e *EC2) waitState(ctx context.Context, api *ec2sdk.Client, id, want string) (types.Instance, error) {
	deadline := time.Now().Add(e.timeout())
	for {
		out, err := api.DescribeInstances(ctx, &ec2sdk.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil && !isCode(err, "InvalidInstanceID.NotFound") { // not visible yet right after launch
			return types.Instance{}, fmt.Errorf("wait for %s: %w", id, apiErr(err))
		}
		if err == nil {
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					switch stateName(in) {
					case want:
						return in, nil
					case "shutting-down", "terminated":
						reason := ""
						if in.StateReason != nil {
							reason = ": " + aws.ToString(in.StateReason.Message)
						}
						return in, fmt.Errorf("%s is %s%s", id, stateName(in), reason)
					}
				}
			}
		}
		if time.Now().After(deadline) {
			return types.Instance{}, fmt.Errorf("%w: %s not %s after %s", ErrTimeout, id, want, e.timeout())
		}
		select {
		case <-ctx.Done():
			return types.Instance{}, ctx.Err()
		case <-time.After(e.poll()):
		}
	}
}

// apiErr shortens an SDK error to the service's code and message when it has them.
func apiErr(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}
