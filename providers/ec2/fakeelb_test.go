package ec2

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// fakeELB is Elastic Load Balancing's v2 API (version 2015-12-01, the Query protocol) as
// the fake serves it, for the API's Network Load Balancer: load balancers, target
// groups, listeners, targets, tags and attributes, each answered in ELB's XML and error
// format so that the SDK's own parsing reads it. It holds the provider to what ELB
// enforces and what matters here:
//   - names of load balancers and target groups: at most 32 characters, letters, digits
//     and hyphens, no hyphen at either end, no "internal-" prefix; one load balancer and
//     one target group per name (a create with the same name and settings returns the
//     existing one, as ELB's idempotent creates do; other settings are
//     DuplicateLoadBalancerName / DuplicateTargetGroupName);
//   - a load balancer's subnets exist, are in one VPC and in distinct availability zones;
//     its security groups exist in that VPC, and can only be set on one created with some;
//   - a target group's protocol and port (TCP, TLS, UDP or TCP_UDP for a network load
//     balancer, a port from 1 to 65535), its health check's ranges and that a path goes
//     with HTTP(S) checks only; a TCP listener forwards only to a TCP (or TCP_UDP) group
//     of the load balancer's VPC, and a target group serves one load balancer;
//   - targets are instances of the target group's VPC in the running state;
//   - DescribeTags and Describe* by name take at most 20 names or ARNs; listing pages
//     at 2 (fakeELBPage) to exercise the SDK's paginators;
//   - deleting a load balancer deletes its listeners, and its security groups stay in use
//     for a few DeleteSecurityGroup calls more (its network interfaces go later), and a
//     target group a listener forwards to is ResourceInUse.
//
// DescribeTargetHealth reports a target "initial" on its first answer, then "healthy"
// while its instance runs in a zone of the load balancer, "unused" otherwise.
type fakeELB struct {
	lbs       map[string]*fakeLB // by ARN
	tgs       map[string]*fakeTG
	listeners map[string]*xListener
	tags      map[string][]xTag
	seq       int
	// sgHold counts the DeleteSecurityGroup calls still refused for a group whose load
	// balancer was deleted.
	sgHold map[string]int
}

type fakeLB struct {
	x     xLB
	attrs map[string]string
	polls int // DescribeLoadBalancers answers before it is active
}

type fakeTG struct {
	x       xTG
	attrs   map[string]string
	targets map[string]int // instance id -> DescribeTargetHealth answers so far
}

const (
	fakeELBPage     = 2
	fakeAccount     = "123456789012"
	elbNamespace    = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"
	lbActivePolls   = 2
	sgHoldAfterLB   = 2
	maxTagsPerQuery = 20
)

var elbNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$`)

// The XML shapes of ELB's answers, element names as ELB writes them.
type (
	xLB struct {
		LoadBalancerArn       string
		DNSName               string
		CanonicalHostedZoneId string
		CreatedTime           string
		LoadBalancerName      string
		Scheme                string
		VpcId                 string
		State                 struct{ Code string }
		Type                  string
		AvailabilityZones     []xAZ    `xml:"AvailabilityZones>member"`
		SecurityGroups        []string `xml:"SecurityGroups>member"`
		IpAddressType         string
	}
	xAZ struct{ ZoneName, SubnetId string }
	xTG struct {
		TargetGroupArn             string
		TargetGroupName            string
		Protocol                   string
		Port                       int
		VpcId                      string
		HealthCheckProtocol        string
		HealthCheckPort            string
		HealthCheckEnabled         bool
		HealthCheckIntervalSeconds int
		HealthCheckTimeoutSeconds  int
		HealthyThresholdCount      int
		UnhealthyThresholdCount    int
		HealthCheckPath            string    `xml:",omitempty"`
		Matcher                    *xMatcher `xml:",omitempty"`
		LoadBalancerArns           []string  `xml:"LoadBalancerArns>member"`
		TargetType                 string
		IpAddressType              string
	}
	xMatcher  struct{ HttpCode string }
	xListener struct {
		ListenerArn     string
		LoadBalancerArn string
		Port            int
		Protocol        string
		DefaultActions  []xAction `xml:"DefaultActions>member"`
	}
	xAction struct{ Type, TargetGroupArn string }
	xTag    struct{ Key, Value string }
	xAttr   struct{ Key, Value string }
	xHealth struct {
		Target          struct{ Id, Port string }
		HealthCheckPort string
		TargetHealth    struct{ State, Reason, Description string }
	}
)

func newFakeELB() fakeELB {
	return fakeELB{lbs: map[string]*fakeLB{}, tgs: map[string]*fakeTG{}, listeners: map[string]*xListener{}, tags: map[string][]xTag{}, sgHold: map[string]int{}}
}

// elbError answers in ELB's Query error format.
func elbError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>fake</RequestId></ErrorResponse>`, elbNamespace, typ, code, xmlEscape(msg))
}

// elbReply wraps a result's inner XML in ELB's response envelope.
func elbReply(w http.ResponseWriter, action string, result any) {
	var inner []byte
	if result != nil {
		var err error
		if inner, err = xml.Marshal(result); err != nil {
			elbError(w, 500, "InternalFailure", err.Error())
			return
		}
		// xml.Marshal names the element after the Go type; ELB's is ACTIONResult.
		inner = []byte(strings.TrimSuffix(strings.TrimPrefix(string(inner), "<result>"), "</result>"))
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%[1]sResponse xmlns="%[2]s"><%[1]sResult>%[3]s</%[1]sResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></%[1]sResponse>`, action, elbNamespace, inner)
}

// elbFail is a refusal the handlers return; serveELB writes it.
type elbFail struct {
	status     int
	code, text string
}

func (e *elbFail) Error() string { return e.code + ": " + e.text }

func refuse(code, format string, a ...any) *elbFail {
	return &elbFail{400, code, fmt.Sprintf(format, a...)}
}

// members reads a Query list "Prefix.member.N".
func members(form url.Values, prefix string) []string { return indexed(form, prefix+".member") }

func (f *fakeAWS) serveELB(w http.ResponseWriter, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		elbError(w, 400, "ValidationError", err.Error())
		return
	}
	action := form.Get("Action")
	f.log("elb:" + action)
	if e, ok := f.injectedFailure("elb:" + action); ok {
		elbError(w, e.status, e.code, "injected by the test")
		return
	}
	if v := form.Get("Version"); v != "2015-12-01" {
		elbError(w, 400, "InvalidAction", "the fake serves ELB 2015-12-01, not "+v)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	handlers := map[string]func(url.Values) (any, *elbFail){
		"CreateLoadBalancer":             f.elbCreateLoadBalancer,
		"DescribeLoadBalancers":          f.elbDescribeLoadBalancers,
		"DeleteLoadBalancer":             f.elbDeleteLoadBalancer,
		"SetSubnets":                     f.elbSetSubnets,
		"SetSecurityGroups":              f.elbSetSecurityGroups,
		"DescribeLoadBalancerAttributes": f.elbLBAttributes,
		"ModifyLoadBalancerAttributes":   f.elbLBAttributes,
		"CreateTargetGroup":              f.elbCreateTargetGroup,
		"DescribeTargetGroups":           f.elbDescribeTargetGroups,
		"ModifyTargetGroup":              f.elbModifyTargetGroup,
		"DeleteTargetGroup":              f.elbDeleteTargetGroup,
		"DescribeTargetGroupAttributes":  f.elbTGAttributes,
		"ModifyTargetGroupAttributes":    f.elbTGAttributes,
		"CreateListener":                 f.elbCreateListener,
		"DescribeListeners":              f.elbDescribeListeners,
		"ModifyListener":                 f.elbModifyListener,
		"DeleteListener":                 f.elbDeleteListener,
		"RegisterTargets":                f.elbRegisterTargets,
		"DeregisterTargets":              f.elbDeregisterTargets,
		"DescribeTargetHealth":           f.elbDescribeTargetHealth,
		"DescribeTags":                   f.elbDescribeTags,
	}
	h, ok := handlers[action]
	if !ok {
		elbError(w, 400, "InvalidAction", "the fake does not implement "+action)
		return
	}
	res, fail := h(form)
	if fail != nil {
		elbError(w, fail.status, fail.code, fail.text)
		return
	}
	elbReply(w, action, res)
}

func (f *fakeAWS) elbARN(kind, name string) string {
	f.elb.seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", kind, name, f.elb.seq)))
	return fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:%s/%s/%s", fakeRegion, fakeAccount, kind, name, hex.EncodeToString(sum[:8]))
}

func checkELBName(what, name string) *elbFail {
	switch {
	case name == "":
		return refuse("ValidationError", "A %s name is required", what)
	case len(name) > maxELBName:
		return refuse("ValidationError", "The %s name '%s' cannot be longer than '32' characters", what, name)
	case !elbNameRE.MatchString(name):
		return refuse("ValidationError", "The %s name '%s' must have only alphanumeric characters and hyphens, and must not begin or end with a hyphen", what, name)
	case strings.HasPrefix(name, "internal-"):
		return refuse("ValidationError", "The %s name '%s' cannot begin with 'internal-'", what, name)
	}
	return nil
}

// elbTagsOf reads Tags.member.N.{Key,Value}, refusing what ELB refuses.
func elbTagsOf(form url.Values) ([]xTag, *elbFail) {
	var out []xTag
	seen := map[string]bool{}
	for i := 1; ; i++ {
		k := form.Get(fmt.Sprintf("Tags.member.%d.Key", i))
		if k == "" {
			break
		}
		if seen[k] {
			return nil, refuse("DuplicateTagKeys", "Tag key '%s' is specified more than once", k)
		}
		seen[k] = true
		out = append(out, xTag{k, form.Get(fmt.Sprintf("Tags.member.%d.Value", i))})
	}
	if len(out) > 50 {
		return nil, refuse("TooManyTags", "%d tags, at most 50", len(out))
	}
	return out, nil
}

// ec2Facts asks ec2test about subnets, security groups and instances, for the checks ELB
// makes against EC2.
type (
	subnetFacts   struct{ vpc, zone string }
	instanceFacts struct{ vpc, zone, state string }
)

func (f *fakeAWS) subnetFacts(id string) (subnetFacts, bool) {
	status, out := f.forward(url.Values{"Action": {"DescribeSubnets"}, "SubnetId.1": {id}})
	var resp struct {
		Items []struct {
			ID   string `xml:"subnetId"`
			VPC  string `xml:"vpcId"`
			Zone string `xml:"availabilityZone"`
		} `xml:"subnetSet>item"`
	}
	if status != 200 || xml.Unmarshal(out, &resp) != nil || len(resp.Items) != 1 {
		return subnetFacts{}, false
	}
	return subnetFacts{resp.Items[0].VPC, resp.Items[0].Zone}, true
}

// groupVPC is a security group's VPC, if the group exists (f.mu held).
func (f *fakeAWS) groupVPC(id string) (string, bool) {
	if status, _ := f.forward(url.Values{"Action": {"DescribeSecurityGroups"}, "GroupId.1": {id}}); status != 200 {
		return "", false
	}
	return f.groupVPCs[id], true
}

// instanceFactsLocked is an instance's VPC, zone and state, the state as DescribeInstances
// shows it now (the fake's pending and stopped states included).
func (f *fakeAWS) instanceFactsLocked(id string) (instanceFacts, bool) {
	status, out := f.forward(url.Values{"Action": {"DescribeInstances"}, "InstanceId.1": {id}})
	var resp struct {
		Items []struct {
			VPC   string `xml:"vpcId"`
			Zone  string `xml:"placement>availabilityZone"`
			State string `xml:"instanceState>name"`
		} `xml:"reservationSet>item>instancesSet>item"`
	}
	if status != 200 || xml.Unmarshal(out, &resp) != nil || len(resp.Items) != 1 {
		return instanceFacts{}, false
	}
	in := resp.Items[0]
	if q := f.states[id]; len(q) > 0 {
		in.State = q[0]
	}
	return instanceFacts{in.VPC, in.Zone, in.State}, true
}

// lbSubnets checks a load balancer's subnets: they exist, share a VPC, and each is in a
// zone of its own.
func (f *fakeAWS) lbSubnets(ids []string) ([]xAZ, string, *elbFail) {
	if len(ids) == 0 {
		return nil, "", refuse("ValidationError", "At least one subnet must be specified")
	}
	var azs []xAZ
	vpc := ""
	zones := map[string]string{}
	for _, id := range ids {
		s, ok := f.subnetFacts(id)
		if !ok {
			return nil, "", refuse("SubnetNotFound", "The subnet ID '%s' is not valid", id)
		}
		if vpc != "" && s.vpc != vpc {
			return nil, "", refuse("InvalidConfigurationRequest", "The subnets must all be in the same VPC: '%s' is in '%s', not '%s'", id, s.vpc, vpc)
		}
		vpc = s.vpc
		if other, dup := zones[s.zone]; dup {
			return nil, "", refuse("InvalidConfigurationRequest", "A load balancer cannot be attached to multiple subnets in the same Availability Zone: '%s' and '%s' are both in '%s'", other, id, s.zone)
		}
		zones[s.zone] = id
		azs = append(azs, xAZ{ZoneName: s.zone, SubnetId: id})
	}
	return azs, vpc, nil
}

func (f *fakeAWS) lbGroups(ids []string, vpc string) *elbFail {
	for _, id := range ids {
		v, ok := f.groupVPC(id)
		if !ok || v != vpc {
			return refuse("InvalidSecurityGroup", "Security group '%s' does not exist in VPC '%s'", id, vpc)
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func (f *fakeAWS) elbCreateLoadBalancer(form url.Values) (any, *elbFail) {
	name := form.Get("Name")
	if fail := checkELBName("load balancer", name); fail != nil {
		return nil, fail
	}
	if t := form.Get("Type"); t != "network" {
		return nil, refuse("ValidationError", "the fake serves network load balancers, not %q", t)
	}
	scheme := form.Get("Scheme")
	if scheme == "" {
		scheme = "internet-facing" // ELB's default
	}
	if scheme != "internal" && scheme != "internet-facing" {
		return nil, refuse("ValidationError", "Scheme '%s' is not valid", scheme)
	}
	if form.Has("SubnetMappings.member.1.SubnetId") {
		return nil, refuse("ValidationError", "the fake takes Subnets, not SubnetMappings")
	}
	subnets, groups := members(form, "Subnets"), members(form, "SecurityGroups")
	azs, vpc, fail := f.lbSubnets(subnets)
	if fail != nil {
		return nil, fail
	}
	if fail := f.lbGroups(groups, vpc); fail != nil {
		return nil, fail
	}
	tags, fail := elbTagsOf(form)
	if fail != nil {
		return nil, fail
	}
	for _, lb := range f.elb.lbs {
		if lb.x.LoadBalancerName != name {
			continue
		}
		var have []string
		for _, z := range lb.x.AvailabilityZones {
			have = append(have, z.SubnetId)
		}
		if lb.x.Scheme == scheme && sameSet(have, subnets) && sameSet(lb.x.SecurityGroups, groups) {
			return result{LoadBalancers: []xLB{lb.x}}, nil // ELB's idempotent create
		}
		return nil, refuse("DuplicateLoadBalancerName", "A load balancer with the same name '%s' exists, but with different settings", name)
	}
	arn := f.elbARN("loadbalancer/net", name)
	id := arn[strings.LastIndex(arn, "/")+1:]
	x := xLB{LoadBalancerArn: arn, LoadBalancerName: name, Scheme: scheme, VpcId: vpc, Type: "network", IpAddressType: "ipv4",
		DNSName: fmt.Sprintf("%s-%s.elb.%s.amazonaws.com", name, id, fakeRegion), CanonicalHostedZoneId: "Z2IFOLAFXWLO4F",
		CreatedTime: "2026-12-01T10:00:00.000Z", AvailabilityZones: azs, SecurityGroups: groups}
	x.State.Code = "provisioning"
	f.elb.lbs[arn] = &fakeLB{x: x, attrs: map[string]string{
		"load_balancing.cross_zone.enabled": "false", "deletion_protection.enabled": "false", "access_logs.s3.enabled": "false",
		"dns_record.client_routing_policy": "any_availability_zone",
	}}
	f.elb.tags[arn] = tags
	return result{LoadBalancers: []xLB{x}}, nil
}

// result holds every list an answer can carry; empty ones are left out.
type result struct {
	XMLName                  xml.Name    `xml:"result"`
	LoadBalancers            []xLB       `xml:"LoadBalancers>member,omitempty"`
	TargetGroups             []xTG       `xml:"TargetGroups>member,omitempty"`
	Listeners                []xListener `xml:"Listeners>member,omitempty"`
	TargetHealthDescriptions []xHealth   `xml:"TargetHealthDescriptions>member,omitempty"`
	TagDescriptions          []struct {
		ResourceArn string
		Tags        []xTag `xml:"Tags>member"`
	} `xml:"TagDescriptions>member,omitempty"`
	Attributes        []xAttr  `xml:"Attributes>member,omitempty"`
	SecurityGroupIds  []string `xml:"SecurityGroupIds>member,omitempty"`
	AvailabilityZones []xAZ    `xml:"AvailabilityZones>member,omitempty"`
	NextMarker        string   `xml:",omitempty"`
}

// page cuts a listing at the form's Marker, at most fakeELBPage (or PageSize) long.
func page[T any](form url.Values, all []T) ([]T, string, *elbFail) {
	size := fakeELBPage
	if s := form.Get("PageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 400 {
			return nil, "", refuse("ValidationError", "PageSize must be from 1 to 400")
		}
		size = min(size, n)
	}
	start := 0
	if m := form.Get("Marker"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 || n > len(all) {
			return nil, "", refuse("ValidationError", "Invalid Marker %q", m)
		}
		start = n
	}
	end := min(start+size, len(all))
	next := ""
	if end < len(all) {
		next = strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

func (f *fakeAWS) elbDescribeLoadBalancers(form url.Values) (any, *elbFail) {
	names, arns := members(form, "Names"), members(form, "LoadBalancerArns")
	if len(names) > maxTagsPerQuery || len(arns) > maxTagsPerQuery {
		return nil, refuse("ValidationError", "at most 20 names or ARNs")
	}
	var all []xLB
	for _, arn := range slices.Sorted(maps.Keys(f.elb.lbs)) {
		lb := f.elb.lbs[arn]
		if (len(names) > 0 && !slices.Contains(names, lb.x.LoadBalancerName)) || (len(arns) > 0 && !slices.Contains(arns, arn)) {
			continue
		}
		// AWS takes minutes to make a load balancer active.
		if lb.polls++; lb.polls > lbActivePolls {
			lb.x.State.Code = "active"
		}
		all = append(all, lb.x)
	}
	if len(names)+len(arns) > 0 && len(all) != len(names)+len(arns) {
		return nil, refuse("LoadBalancerNotFound", "Load balancers '%v' not found", append(names, arns...))
	}
	items, next, fail := page(form, all)
	if fail != nil {
		return nil, fail
	}
	return result{LoadBalancers: items, NextMarker: next}, nil
}

func (f *fakeAWS) lbByARN(arn string) (*fakeLB, *elbFail) {
	lb, ok := f.elb.lbs[arn]
	if !ok {
		return nil, refuse("LoadBalancerNotFound", "Load balancer '%s' not found", arn)
	}
	return lb, nil
}

func (f *fakeAWS) elbDeleteLoadBalancer(form url.Values) (any, *elbFail) {
	arn := form.Get("LoadBalancerArn")
	lb, ok := f.elb.lbs[arn]
	if !ok {
		return nil, nil // ELB: deleting one that is gone succeeds
	}
	for larn, l := range f.elb.listeners {
		if l.LoadBalancerArn == arn {
			f.dropListenerLocked(larn)
		}
	}
	for _, g := range lb.x.SecurityGroups {
		f.elb.sgHold[g] = sgHoldAfterLB
	}
	delete(f.elb.lbs, arn)
	delete(f.elb.tags, arn)
	return nil, nil
}

func (f *fakeAWS) elbSetSubnets(form url.Values) (any, *elbFail) {
	lb, fail := f.lbByARN(form.Get("LoadBalancerArn"))
	if fail != nil {
		return nil, fail
	}
	azs, vpc, fail := f.lbSubnets(members(form, "Subnets"))
	if fail != nil {
		return nil, fail
	}
	if vpc != lb.x.VpcId {
		return nil, refuse("InvalidConfigurationRequest", "subnets of VPC %s for a load balancer in %s", vpc, lb.x.VpcId)
	}
	lb.x.AvailabilityZones = azs
	return result{AvailabilityZones: azs}, nil
}

func (f *fakeAWS) elbSetSecurityGroups(form url.Values) (any, *elbFail) {
	lb, fail := f.lbByARN(form.Get("LoadBalancerArn"))
	if fail != nil {
		return nil, fail
	}
	if len(lb.x.SecurityGroups) == 0 {
		return nil, refuse("InvalidConfigurationRequest", "You cannot set security groups on a Network Load Balancer which was created without any security groups")
	}
	groups := members(form, "SecurityGroups")
	if fail := f.lbGroups(groups, lb.x.VpcId); fail != nil {
		return nil, fail
	}
	lb.x.SecurityGroups = groups
	return result{SecurityGroupIds: groups}, nil
}

// attributes answers Describe* (no Attributes given) and Modify* for a set of known keys.
func attributes(have map[string]string, form url.Values) (any, *elbFail) {
	for i := 1; ; i++ {
		k := form.Get(fmt.Sprintf("Attributes.member.%d.Key", i))
		if k == "" {
			break
		}
		if _, ok := have[k]; !ok {
			return nil, refuse("ValidationError", "Attribute key '%s' is not recognized", k)
		}
		have[k] = form.Get(fmt.Sprintf("Attributes.member.%d.Value", i))
	}
	var out []xAttr
	for _, k := range slices.Sorted(maps.Keys(have)) {
		out = append(out, xAttr{k, have[k]})
	}
	return result{Attributes: out}, nil
}

func (f *fakeAWS) elbLBAttributes(form url.Values) (any, *elbFail) {
	lb, fail := f.lbByARN(form.Get("LoadBalancerArn"))
	if fail != nil {
		return nil, fail
	}
	return attributes(lb.attrs, form)
}

func (f *fakeAWS) elbTGAttributes(form url.Values) (any, *elbFail) {
	tg, fail := f.tgByARN(form.Get("TargetGroupArn"))
	if fail != nil {
		return nil, fail
	}
	return attributes(tg.attrs, form)
}

// healthCheckOf applies the form's health check settings to x, checking ELB's ranges.
func healthCheckOf(form url.Values, x *xTG) *elbFail {
	num := func(key string, lo, hi int, dst *int) *elbFail {
		s := form.Get(key)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return refuse("ValidationError", "%s must be from %d to %d, not %s", key, lo, hi, s)
		}
		*dst = n
		return nil
	}
	if v := form.Get("HealthCheckProtocol"); v != "" {
		if !slices.Contains([]string{"TCP", "HTTP", "HTTPS"}, v) {
			return refuse("ValidationError", "Health check protocol '%s' is not supported for target groups of a network load balancer", v)
		}
		x.HealthCheckProtocol = v
	}
	if v := form.Get("HealthCheckEnabled"); v != "" {
		x.HealthCheckEnabled = v == "true"
	}
	if v := form.Get("HealthCheckPort"); v != "" {
		if n, err := strconv.Atoi(v); v != "traffic-port" && (err != nil || n < 1 || n > 65535) {
			return refuse("ValidationError", "Health check port '%s' is not valid", v)
		}
		x.HealthCheckPort = v
	}
	for _, n := range []struct {
		key    string
		lo, hi int
		dst    *int
	}{{"HealthCheckIntervalSeconds", 5, 300, &x.HealthCheckIntervalSeconds}, {"HealthCheckTimeoutSeconds", 2, 120, &x.HealthCheckTimeoutSeconds},
		{"HealthyThresholdCount", 2, 10, &x.HealthyThresholdCount}, {"UnhealthyThresholdCount", 2, 10, &x.UnhealthyThresholdCount}} {
		if fail := num(n.key, n.lo, n.hi, n.dst); fail != nil {
			return fail
		}
	}
	if v := form.Get("HealthCheckPath"); v != "" {
		x.HealthCheckPath = v
	}
	if v := form.Get("Matcher.HttpCode"); v != "" {
		x.Matcher = &xMatcher{v}
	}
	httpCheck := x.HealthCheckProtocol == "HTTP" || x.HealthCheckProtocol == "HTTPS"
	switch {
	case !httpCheck && (x.HealthCheckPath != "" || x.Matcher != nil):
		return refuse("ValidationError", "Health check path and matcher are only supported with HTTP or HTTPS health checks")
	case httpCheck && x.HealthCheckPath != "" && !strings.HasPrefix(x.HealthCheckPath, "/"):
		return refuse("ValidationError", "Health check path '%s' must begin with '/'", x.HealthCheckPath)
	case x.HealthCheckTimeoutSeconds >= x.HealthCheckIntervalSeconds:
		return refuse("ValidationError", "Health check timeout '%d' must be smaller than the interval '%d'", x.HealthCheckTimeoutSeconds, x.HealthCheckIntervalSeconds)
	}
	if httpCheck && x.HealthCheckPath == "" {
		x.HealthCheckPath = "/"
	}
	if httpCheck && x.Matcher == nil {
		x.Matcher = &xMatcher{"200-399"}
	}
	return nil
}

func (f *fakeAWS) elbCreateTargetGroup(form url.Values) (any, *elbFail) {
	name := form.Get("Name")
	if fail := checkELBName("target group", name); fail != nil {
		return nil, fail
	}
	x := xTG{TargetGroupName: name, Protocol: form.Get("Protocol"), VpcId: form.Get("VpcId"), TargetType: form.Get("TargetType"),
		IpAddressType: "ipv4", HealthCheckProtocol: "TCP", HealthCheckPort: "traffic-port", HealthCheckEnabled: true,
		HealthCheckIntervalSeconds: 30, HealthCheckTimeoutSeconds: 10, HealthyThresholdCount: 5, UnhealthyThresholdCount: 2}
	if x.TargetType == "" {
		x.TargetType = "instance"
	}
	if x.TargetType != "instance" {
		return nil, refuse("ValidationError", "the fake serves instance targets, not %s", x.TargetType)
	}
	if !slices.Contains([]string{"TCP", "TLS", "UDP", "TCP_UDP"}, x.Protocol) {
		return nil, refuse("ValidationError", "Protocol '%s' is not supported for a target group of a network load balancer: use TCP, TLS, UDP or TCP_UDP", x.Protocol)
	}
	port, err := strconv.Atoi(form.Get("Port"))
	if err != nil || port < 1 || port > 65535 {
		return nil, refuse("ValidationError", "A port from 1 to 65535 is required for a target group of instances, not '%s'", form.Get("Port"))
	}
	x.Port = port
	if status, _ := f.forward(url.Values{"Action": {"DescribeVpcs"}, "VpcId.1": {x.VpcId}}); status != 200 || x.VpcId == "" {
		return nil, refuse("ValidationError", "The VPC ID '%s' is not found", x.VpcId)
	}
	if fail := healthCheckOf(form, &x); fail != nil {
		return nil, fail
	}
	tags, fail := elbTagsOf(form)
	if fail != nil {
		return nil, fail
	}
	for _, tg := range f.elb.tgs {
		if tg.x.TargetGroupName != name {
			continue
		}
		same := x
		same.TargetGroupArn, same.LoadBalancerArns = tg.x.TargetGroupArn, tg.x.LoadBalancerArns
		if cmpTG(same, tg.x) {
			return result{TargetGroups: []xTG{tg.x}}, nil
		}
		return nil, refuse("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", name)
	}
	x.TargetGroupArn = f.elbARN("targetgroup", name)
	f.elb.tgs[x.TargetGroupArn] = &fakeTG{x: x, targets: map[string]int{}, attrs: map[string]string{
		"deregistration_delay.timeout_seconds": "300", "deregistration_delay.connection_termination.enabled": "false",
		"preserve_client_ip.enabled": "true", "proxy_protocol_v2.enabled": "false", "stickiness.enabled": "false", "stickiness.type": "source_ip",
	}}
	f.elb.tags[x.TargetGroupArn] = tags
	return result{TargetGroups: []xTG{x}}, nil
}

func cmpTG(a, b xTG) bool {
	am, bm := "", ""
	if a.Matcher != nil {
		am = a.Matcher.HttpCode
	}
	if b.Matcher != nil {
		bm = b.Matcher.HttpCode
	}
	a.Matcher, b.Matcher = nil, nil
	return am == bm && fmt.Sprint(a) == fmt.Sprint(b)
}

func (f *fakeAWS) tgByARN(arn string) (*fakeTG, *elbFail) {
	tg, ok := f.elb.tgs[arn]
	if !ok {
		return nil, refuse("TargetGroupNotFound", "Target group '%s' not found", arn)
	}
	return tg, nil
}

func (f *fakeAWS) elbDescribeTargetGroups(form url.Values) (any, *elbFail) {
	names, arns, lbARN := members(form, "Names"), members(form, "TargetGroupArns"), form.Get("LoadBalancerArn")
	if len(names) > maxTagsPerQuery || len(arns) > maxTagsPerQuery {
		return nil, refuse("ValidationError", "at most 20 names or ARNs")
	}
	if lbARN != "" {
		if _, fail := f.lbByARN(lbARN); fail != nil {
			return nil, fail
		}
	}
	var all []xTG
	for _, arn := range slices.Sorted(maps.Keys(f.elb.tgs)) {
		tg := f.elb.tgs[arn]
		if (len(names) > 0 && !slices.Contains(names, tg.x.TargetGroupName)) || (len(arns) > 0 && !slices.Contains(arns, arn)) ||
			(lbARN != "" && !slices.Contains(tg.x.LoadBalancerArns, lbARN)) {
			continue
		}
		all = append(all, tg.x)
	}
	if len(names)+len(arns) > 0 && len(all) != len(names)+len(arns) {
		return nil, refuse("TargetGroupNotFound", "Target groups '%v' not found", append(names, arns...))
	}
	items, next, fail := page(form, all)
	if fail != nil {
		return nil, fail
	}
	return result{TargetGroups: items, NextMarker: next}, nil
}

func (f *fakeAWS) elbModifyTargetGroup(form url.Values) (any, *elbFail) {
	tg, fail := f.tgByARN(form.Get("TargetGroupArn"))
	if fail != nil {
		return nil, fail
	}
	x := tg.x
	if fail := healthCheckOf(form, &x); fail != nil {
		return nil, fail
	}
	tg.x = x
	return result{TargetGroups: []xTG{x}}, nil
}

func (f *fakeAWS) elbDeleteTargetGroup(form url.Values) (any, *elbFail) {
	arn := form.Get("TargetGroupArn")
	if _, ok := f.elb.tgs[arn]; !ok {
		return nil, nil
	}
	for _, l := range f.elb.listeners {
		for _, a := range l.DefaultActions {
			if a.TargetGroupArn == arn {
				return nil, refuse("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", arn)
			}
		}
	}
	delete(f.elb.tgs, arn)
	delete(f.elb.tags, arn)
	return nil, nil
}

// listenerOf checks a listener's settings against its load balancer and target group.
func (f *fakeAWS) listenerOf(form url.Values, l xListener) (xListener, *elbFail) {
	if s := form.Get("Port"); s != "" {
		port, err := strconv.Atoi(s)
		if err != nil || port < 1 || port > 65535 {
			return l, refuse("ValidationError", "Port '%s' must be from 1 to 65535", s)
		}
		l.Port = port
	}
	if p := form.Get("Protocol"); p != "" {
		l.Protocol = p
	}
	if !slices.Contains([]string{"TCP", "TLS", "UDP", "TCP_UDP"}, l.Protocol) {
		return l, refuse("InvalidConfigurationRequest", "Protocol '%s' is not supported by a network load balancer's listener", l.Protocol)
	}
	if form.Has("DefaultActions.member.1.Type") {
		l.DefaultActions = nil
		for i := 1; form.Has(fmt.Sprintf("DefaultActions.member.%d.Type", i)); i++ {
			a := xAction{form.Get(fmt.Sprintf("DefaultActions.member.%d.Type", i)), form.Get(fmt.Sprintf("DefaultActions.member.%d.TargetGroupArn", i))}
			if a.Type != "forward" {
				return l, refuse("InvalidLoadBalancerAction", "A network load balancer's listener forwards, not %s", a.Type)
			}
			l.DefaultActions = append(l.DefaultActions, a)
		}
	}
	if len(l.DefaultActions) != 1 {
		return l, refuse("ValidationError", "A listener needs one default action")
	}
	lb := f.elb.lbs[l.LoadBalancerArn]
	tg, fail := f.tgByARN(l.DefaultActions[0].TargetGroupArn)
	if fail != nil {
		return l, fail
	}
	if tg.x.VpcId != lb.x.VpcId {
		return l, refuse("InvalidConfigurationRequest", "Target group '%s' is in VPC '%s', the load balancer in '%s'", tg.x.TargetGroupArn, tg.x.VpcId, lb.x.VpcId)
	}
	if l.Protocol == "TCP" && tg.x.Protocol != "TCP" && tg.x.Protocol != "TCP_UDP" {
		return l, refuse("IncompatibleProtocols", "A TCP listener cannot forward to a %s target group", tg.x.Protocol)
	}
	for _, other := range tg.x.LoadBalancerArns {
		if other != l.LoadBalancerArn {
			return l, refuse("TargetGroupAssociationLimit", "The following target groups cannot be associated with more than one load balancer: %s", tg.x.TargetGroupArn)
		}
	}
	return l, nil
}

func (f *fakeAWS) elbCreateListener(form url.Values) (any, *elbFail) {
	lbARN := form.Get("LoadBalancerArn")
	if _, fail := f.lbByARN(lbARN); fail != nil {
		return nil, fail
	}
	l, fail := f.listenerOf(form, xListener{LoadBalancerArn: lbARN})
	if fail != nil {
		return nil, fail
	}
	tags, fail := elbTagsOf(form)
	if fail != nil {
		return nil, fail
	}
	for _, other := range f.elb.listeners {
		if other.LoadBalancerArn == lbARN && other.Port == l.Port {
			same := l
			same.ListenerArn = other.ListenerArn
			if fmt.Sprint(same) == fmt.Sprint(*other) {
				return result{Listeners: []xListener{*other}}, nil
			}
			return nil, refuse("DuplicateListener", "A listener already exists on this port for this load balancer")
		}
	}
	lb := f.elb.lbs[lbARN]
	l.ListenerArn = f.elbARN("listener/net", lb.x.LoadBalancerName+"/"+lbARN[strings.LastIndex(lbARN, "/")+1:])
	f.elb.listeners[l.ListenerArn] = &l
	f.elb.tags[l.ListenerArn] = tags
	f.associateLocked(l)
	return result{Listeners: []xListener{l}}, nil
}

// associateLocked records which load balancer a target group serves, as ELB reports it.
func (f *fakeAWS) associateLocked(l xListener) {
	for _, a := range l.DefaultActions {
		if tg := f.elb.tgs[a.TargetGroupArn]; tg != nil && !slices.Contains(tg.x.LoadBalancerArns, l.LoadBalancerArn) {
			tg.x.LoadBalancerArns = append(tg.x.LoadBalancerArns, l.LoadBalancerArn)
		}
	}
}

// dropListenerLocked removes a listener, and a target group's association with its load
// balancer when no other listener of it forwards there.
func (f *fakeAWS) dropListenerLocked(arn string) {
	l := f.elb.listeners[arn]
	delete(f.elb.listeners, arn)
	delete(f.elb.tags, arn)
	for _, tg := range f.elb.tgs {
		used := false
		for _, other := range f.elb.listeners {
			if other.LoadBalancerArn == l.LoadBalancerArn && len(other.DefaultActions) > 0 && other.DefaultActions[0].TargetGroupArn == tg.x.TargetGroupArn {
				used = true
			}
		}
		if !used {
			tg.x.LoadBalancerArns = slices.DeleteFunc(tg.x.LoadBalancerArns, func(s string) bool { return s == l.LoadBalancerArn })
		}
	}
}

func (f *fakeAWS) elbDescribeListeners(form url.Values) (any, *elbFail) {
	lbARN, arns := form.Get("LoadBalancerArn"), members(form, "ListenerArns")
	if lbARN == "" && len(arns) == 0 {
		return nil, refuse("ValidationError", "A load balancer ARN or listener ARNs must be specified")
	}
	if lbARN != "" {
		if _, fail := f.lbByARN(lbARN); fail != nil {
			return nil, fail
		}
	}
	var all []xListener
	for _, arn := range slices.Sorted(maps.Keys(f.elb.listeners)) {
		l := f.elb.listeners[arn]
		if (lbARN != "" && l.LoadBalancerArn != lbARN) || (len(arns) > 0 && !slices.Contains(arns, arn)) {
			continue
		}
		all = append(all, *l)
	}
	if len(arns) > 0 && len(all) != len(arns) {
		return nil, refuse("ListenerNotFound", "Listeners '%v' not found", arns)
	}
	items, next, fail := page(form, all)
	if fail != nil {
		return nil, fail
	}
	return result{Listeners: items, NextMarker: next}, nil
}

func (f *fakeAWS) elbModifyListener(form url.Values) (any, *elbFail) {
	old, ok := f.elb.listeners[form.Get("ListenerArn")]
	if !ok {
		return nil, refuse("ListenerNotFound", "Listener '%s' not found", form.Get("ListenerArn"))
	}
	l, fail := f.listenerOf(form, *old)
	if fail != nil {
		return nil, fail
	}
	f.dropListenerLocked(old.ListenerArn)
	f.elb.listeners[l.ListenerArn] = &l
	f.associateLocked(l)
	return result{Listeners: []xListener{l}}, nil
}

func (f *fakeAWS) elbDeleteListener(form url.Values) (any, *elbFail) {
	arn := form.Get("ListenerArn")
	if _, ok := f.elb.listeners[arn]; !ok {
		return nil, refuse("ListenerNotFound", "Listener '%s' not found", arn)
	}
	f.dropListenerLocked(arn)
	return nil, nil
}

// targetsOf reads Targets.member.N.Id.
func targetsOf(form url.Values) ([]string, *elbFail) {
	var ids []string
	for i := 1; form.Has(fmt.Sprintf("Targets.member.%d.Id", i)); i++ {
		if p := form.Get(fmt.Sprintf("Targets.member.%d.Port", i)); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return nil, refuse("ValidationError", "Target port '%s' must be from 1 to 65535", p)
			}
		}
		ids = append(ids, form.Get(fmt.Sprintf("Targets.member.%d.Id", i)))
	}
	if len(ids) == 0 {
		return nil, refuse("ValidationError", "At least one target must be specified")
	}
	return ids, nil
}

func (f *fakeAWS) elbRegisterTargets(form url.Values) (any, *elbFail) {
	tg, fail := f.tgByARN(form.Get("TargetGroupArn"))
	if fail != nil {
		return nil, fail
	}
	ids, fail := targetsOf(form)
	if fail != nil {
		return nil, fail
	}
	var notInstance, notRunning, otherVPC []string
	for _, id := range ids {
		in, ok := f.instanceFactsLocked(id)
		switch {
		case !ok:
			notInstance = append(notInstance, "'"+id+"'")
		case in.state != "running":
			notRunning = append(notRunning, "'"+id+"'")
		case in.vpc != tg.x.VpcId:
			otherVPC = append(otherVPC, "'"+id+"'")
		}
	}
	switch {
	case len(notInstance) > 0:
		return nil, refuse("InvalidTarget", "The following targets are not valid instances: %s", strings.Join(notInstance, ", "))
	case len(notRunning) > 0:
		return nil, refuse("InvalidTarget", "The following targets are not in a running state and cannot be registered: %s", strings.Join(notRunning, ", "))
	case len(otherVPC) > 0:
		return nil, refuse("InvalidTarget", "The following targets are not in the target group VPC '%s': %s", tg.x.VpcId, strings.Join(otherVPC, ", "))
	}
	for _, id := range ids {
		if _, ok := tg.targets[id]; !ok {
			tg.targets[id] = 0
		}
	}
	return nil, nil
}

func (f *fakeAWS) elbDeregisterTargets(form url.Values) (any, *elbFail) {
	tg, fail := f.tgByARN(form.Get("TargetGroupArn"))
	if fail != nil {
		return nil, fail
	}
	ids, fail := targetsOf(form)
	if fail != nil {
		return nil, fail
	}
	for _, id := range ids {
		if _, ok := tg.targets[id]; !ok {
			return nil, refuse("InvalidTarget", "The following targets are not registered in target group '%s': '%s'", tg.x.TargetGroupArn, id)
		}
	}
	for _, id := range ids {
		delete(tg.targets, id)
	}
	return nil, nil
}

func (f *fakeAWS) elbDescribeTargetHealth(form url.Values) (any, *elbFail) {
	tg, fail := f.tgByARN(form.Get("TargetGroupArn"))
	if fail != nil {
		return nil, fail
	}
	zones := map[string]bool{}
	for _, arn := range tg.x.LoadBalancerArns {
		for _, z := range f.elb.lbs[arn].x.AvailabilityZones {
			zones[z.ZoneName] = true
		}
	}
	var out []xHealth
	for _, id := range slices.Sorted(maps.Keys(tg.targets)) {
		var h xHealth
		h.Target.Id, h.Target.Port, h.HealthCheckPort = id, strconv.Itoa(tg.x.Port), strconv.Itoa(tg.x.Port)
		in, ok := f.instanceFactsLocked(id)
		switch {
		case len(tg.x.LoadBalancerArns) == 0:
			h.TargetHealth.State, h.TargetHealth.Reason = "unused", "Target.NotInUse"
		case !ok || in.state != "running":
			h.TargetHealth.State, h.TargetHealth.Reason = "unused", "Target.InvalidState"
		case !zones[in.zone]:
			h.TargetHealth.State, h.TargetHealth.Reason = "unused", "Target.NotInUse"
			h.TargetHealth.Description = "Target is in an Availability Zone that is not enabled for the load balancer"
		case tg.targets[id] == 0:
			h.TargetHealth.State, h.TargetHealth.Reason = "initial", "Elb.RegistrationInProgress"
		default:
			h.TargetHealth.State = "healthy"
		}
		tg.targets[id]++
		out = append(out, h)
	}
	return result{TargetHealthDescriptions: out}, nil
}

func (f *fakeAWS) elbDescribeTags(form url.Values) (any, *elbFail) {
	arns := members(form, "ResourceArns")
	if len(arns) == 0 || len(arns) > maxTagsPerQuery {
		return nil, refuse("ValidationError", "DescribeTags takes from 1 to 20 resource ARNs, not %d", len(arns))
	}
	res := result{}
	for _, arn := range arns {
		tags, ok := f.elb.tags[arn]
		if !ok {
			code := "LoadBalancerNotFound"
			switch {
			case strings.Contains(arn, ":targetgroup/"):
				code = "TargetGroupNotFound"
			case strings.Contains(arn, ":listener/"):
				code = "ListenerNotFound"
			}
			return nil, refuse(code, "'%s' not found", arn)
		}
		res.TagDescriptions = append(res.TagDescriptions, struct {
			ResourceArn string
			Tags        []xTag `xml:"Tags>member"`
		}{arn, tags})
	}
	return res, nil
}

// lbUsesGroupLocked says whether a security group cannot be deleted yet because of a
// load balancer: one that has it, or one deleted moments ago whose network interfaces
// still hold it (each refusal counts down).
func (f *fakeAWS) lbUsesGroupLocked(id string) bool {
	for _, lb := range f.elb.lbs {
		if slices.Contains(lb.x.SecurityGroups, id) {
			return true
		}
	}
	if f.elb.sgHold[id] > 0 {
		f.elb.sgHold[id]--
		return true
	}
	return false
}

// tagsOf returns a resource's tags as a map, for tests.
func (f *fakeAWS) elbTagMap(arn string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, t := range f.elb.tags[arn] {
		out[t.Key] = t.Value
	}
	return out
}

// elbSnapshot is what the fake's ELB holds, for tests: load balancers, target groups and
// listeners by name, sorted.
func (f *fakeAWS) elbSnapshot() (lbs []xLB, tgs []fakeTG, listeners []xListener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, lb := range f.elb.lbs {
		lbs = append(lbs, lb.x)
	}
	for _, tg := range f.elb.tgs {
		c := *tg
		c.targets, c.attrs = maps.Clone(tg.targets), maps.Clone(tg.attrs)
		tgs = append(tgs, c)
	}
	for _, l := range f.elb.listeners {
		listeners = append(listeners, *l)
	}
	sort.Slice(lbs, func(i, j int) bool { return lbs[i].LoadBalancerName < lbs[j].LoadBalancerName })
	sort.Slice(tgs, func(i, j int) bool { return tgs[i].x.TargetGroupName < tgs[j].x.TargetGroupName })
	sort.Slice(listeners, func(i, j int) bool { return listeners[i].Port < listeners[j].Port })
	return lbs, tgs, listeners
}
