package ec2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	amzec2 "gopkg.in/amz.v3/ec2"
	"gopkg.in/amz.v3/ec2/ec2test"
)

// fakeAWS is the in-process AWS the provider's tests run against.
//
// EC2 is gopkg.in/amz.v3's ec2test (an EC2 Query API server: instances, security groups,
// VPCs, subnets, tags, filters), wrapped by handlers written here for what it lacks:
//   - TagSpecifications on RunInstances and CreateSecurityGroup (applied with CreateTags),
//   - ClientToken idempotency of RunInstances, and InvalidIPAddress.InUse for a private
//     ip a live instance already has,
//   - DescribeImages, DescribeKeyPairs and ModifyInstanceMetadataOptions,
//   - MetadataOptions, KeyName and the requested PrivateIpAddress of launched instances in
//     DescribeInstances (ec2test reports 127.0.0.N),
//   - it strips fields ec2test rejects (rule Descriptions, Ebs.Encrypted), and keeps the
//     VPC of each security group (ec2test drops it) and puts instances in their subnet's
//     zone (ec2test puts them in its default one),
//   - instance states as EC2 moves them: a launched instance is pending for its first
//     DescribeInstances answers, then running (ec2test starts them running); StartInstances
//     takes a stopped instance through pending to running (ec2test has no StartInstances).
//
// failNext makes the next calls of an action fail the way AWS throttles or fails
// (RequestLimitExceeded, SlowDown, ThrottlingException, 5xx), in each service's error
// format, so that the provider's retries are tested against the SDK's own error parsing.
//
// ELBv2 (load balancers, target groups, listeners, targets) is fakeelb_test.go's.
//
// S3 (path-style PutObject, GetObject, DeleteObject, with versions when a bucket keeps them;
// GetBucketLocation, GetBucketVersioning, ListObjectVersions) and SSM (PutParameter, GetParameter,
// DeleteParameters) are written here, enough for the secrets modes, and both check every
// request's Signature Version 4 against the SDK's own signer. The fake holds the provider
// to AWS's limits: 16,384 bytes of user-data (decoded), 4 KiB per standard and 8 KiB per
// advanced SSM parameter, 10 names per DeleteParameters. IMDSv2 (token, role
// credentials) is served under /imds for the node-side stubs.
type fakeAWS struct {
	t     *testing.T
	srv   *httptest.Server
	inner *ec2test.Server
	creds aws.Credentials

	innerMu sync.Mutex // serialises requests to inner (see forward)

	mu         sync.Mutex
	actions    []string              // every EC2/S3/SSM call, in order
	runs       map[string]url.Values // instance id -> its RunInstances form
	tokens     map[string]string     // client token -> instance id
	ips        map[string]string     // private ip -> live instance id
	metadata   map[string]url.Values // instance id -> metadata options
	images     map[string]string     // AMI -> root device name
	keyPairs   map[string]bool
	objects    map[string][]byte // "bucket/key" -> body of the current version
	objHeaders map[string]http.Header
	// S3 buckets by name (kisgen-secrets in fakeRegion, unversioned, unless a test says
	// otherwise), the current version id of each object and the noncurrent versions and
	// delete markers of versioned buckets.
	buckets        map[string]*fakeBucket
	currentVersion map[string]string
	versions       map[string][]objVersion
	versionSeq     int
	params         map[string]ssmParam
	imdsToken      string
	badSigs        []string
	failures       map[string][]injected // "ec2:RunInstances", "s3:PUT", "ssm:PutParameter" -> next answers
	// states are the states DescribeInstances reports next for an instance, in place of
	// ec2test's; the last one stays.
	states map[string][]string
	// groups are the security groups ModifyInstanceAttribute put an instance in (ec2test
	// keeps the groups of its launch).
	groups map[string][]string
	// groupVPCs are the VPCs security groups were created in (ec2test drops VpcId).
	groupVPCs map[string]string
	// elb is the Elastic Load Balancing v2 API (fakeelb_test.go).
	elb fakeELB
}

var groupSetRE = regexp.MustCompile(`(?s)<groupSet>.*?</groupSet>`)

// pendingPolls is how many DescribeInstances answers show a new instance pending.
const pendingPolls = 2

// stateCodes are EC2's instance state codes.
var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

// stateXML is an instance state element as EC2 writes it.
func stateXML(elem, name string) string {
	return fmt.Sprintf("<%s><code>%d</code><name>%s</name></%s>", elem, stateCodes[name], name, elem)
}

var instanceStateRE = regexp.MustCompile(`<instanceState>\s*<code>\d+</code>\s*<name>[a-z-]+</name>\s*</instanceState>`)

// injected is an error answer the fake gives instead of serving a call.
type injected struct {
	status int
	code   string
}

// failNext makes the next n calls of key (as calls logs them: "ec2:RunInstances",
// "s3:PUT", "ssm:PutParameter") fail with the HTTP status and error code.
func (f *fakeAWS) failNext(key string, n, status int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 0; i < n; i++ {
		f.failures[key] = append(f.failures[key], injected{status, code})
	}
}

// injectedFailure takes the next injected answer for key, if any.
func (f *fakeAWS) injectedFailure(key string) (injected, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.failures[key]
	if len(q) == 0 {
		return injected{}, false
	}
	f.failures[key] = q[1:]
	return q[0], true
}

type ssmParam struct {
	Value, Type, Tier string
	Tags              map[string]string
}

const fakeRegion = "eu-west-1"

func newFakeAWS(t *testing.T) *fakeAWS {
	t.Helper()
	inner, err := ec2test.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	inner.SetInitialInstanceState(ec2test.Running)
	// ec2test knows one zone, us-east-1c; a load balancer across zones needs the region's.
	zones := []amzec2.AvailabilityZoneInfo{}
	for _, z := range []string{"us-east-1c", fakeRegion + "a", fakeRegion + "b", fakeRegion + "c"} {
		zones = append(zones, amzec2.AvailabilityZoneInfo{AvailabilityZone: amzec2.AvailabilityZone{Name: z, Region: fakeRegion}, State: "available"})
	}
	inner.SetAvailabilityZones(zones)
	f := &fakeAWS{
		t: t, inner: inner,
		creds:    aws.Credentials{AccessKeyID: "ASIAKISGENTEST", SecretAccessKey: "fake-secret", SessionToken: "fake-session-token", Source: "fake"},
		runs:     map[string]url.Values{},
		tokens:   map[string]string{},
		ips:      map[string]string{},
		metadata: map[string]url.Values{},
		images:   map[string]string{"ami-0debian12": "/dev/xvda", "ami-0flatcar": "/dev/xvda"},
		keyPairs: map[string]bool{"ops": true},
		objects:  map[string][]byte{}, objHeaders: map[string]http.Header{},
		buckets:        map[string]*fakeBucket{"kisgen-secrets": {region: fakeRegion}},
		currentVersion: map[string]string{}, versions: map[string][]objVersion{},
		params:    map[string]ssmParam{},
		imdsToken: "imds-token-123",
		failures:  map[string][]injected{},
		states:    map[string][]string{},
		groups:    map[string][]string{},
		groupVPCs: map[string]string{},
		elb:       newFakeELB(),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { f.srv.Close(); inner.Quit() })
	return f
}

// provider returns an EC2 provider pointed at the fake.
func (f *fakeAWS) provider() *EC2 {
	return &EC2{
		LoadConfig: func(ctx context.Context, region string) (aws.Config, error) {
			if region == "" {
				region = fakeRegion
			}
			return aws.Config{
				Region:       region,
				Credentials:  aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return f.creds, nil }),
				BaseEndpoint: aws.String(f.srv.URL),
			}, nil
		},
		PollInterval:  time.Millisecond,
		MaxBackoff:    time.Millisecond,
		WaitTimeout:   5 * time.Second,
		nodeEndpoints: f.nodeEndpoints,
	}
}

func (f *fakeAWS) nodeEndpoints(string) nodeEndpoints {
	return nodeEndpoints{
		IMDS:   f.srv.URL + "/imds",
		SSM:    f.srv.URL + "/",
		Object: func(bucket, key string) string { return f.srv.URL + "/" + bucket + "/" + key },
	}
}

func (f *fakeAWS) log(a string) {
	f.mu.Lock()
	f.actions = append(f.actions, a)
	f.mu.Unlock()
}

// calls returns the logged calls whose names start with prefix.
func (f *fakeAWS) calls(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.actions {
		if strings.HasPrefix(a, prefix) {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasPrefix(r.URL.Path, "/imds/"):
		f.serveIMDS(w, r)
	case strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM."):
		if !f.checkSig(w, r, body, "ssm") {
			return
		}
		f.serveSSM(w, r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/" && strings.Contains(r.Header.Get("Authorization"), "/elasticloadbalancing/aws4_request"):
		if !f.checkSig(w, r, body, "elasticloadbalancing") {
			return
		}
		f.serveELB(w, body)
	case r.Method == http.MethodPost && r.URL.Path == "/":
		f.serveEC2(w, r, body)
	default:
		if !f.checkSig(w, r, body, "s3") {
			return
		}
		f.serveS3(w, r, body)
	}
}

// --- Signature Version 4 ----------------------------------------------------------

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$`)

// checkSig re-signs the request with the SDK's signer over exactly the headers the
// client signed, and compares. It also enforces what S3 enforces: every x-amz-* header
// sent must be signed, and a declared payload hash must match the body.
func (f *fakeAWS) checkSig(w http.ResponseWriter, r *http.Request, body []byte, service string) bool {
	err := func() error {
		m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			return fmt.Errorf("malformed Authorization %q", r.Header.Get("Authorization"))
		}
		if m[1] != f.creds.AccessKeyID || m[4] != service {
			return fmt.Errorf("credential %s for %s, want %s for %s", m[1], m[4], f.creds.AccessKeyID, service)
		}
		signed := strings.Split(m[5], ";")
		for k := range r.Header {
			if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") && !slices.Contains(signed, lk) {
				return fmt.Errorf("header %s is sent but not signed", lk)
			}
		}
		payload := r.Header.Get("X-Amz-Content-Sha256")
		sum := sha256.Sum256(body)
		if payload == "" {
			payload = hex.EncodeToString(sum[:])
		} else if !strings.HasPrefix(payload, "UNSIGNED") && !strings.HasPrefix(payload, "STREAMING") && payload != hex.EncodeToString(sum[:]) {
			return fmt.Errorf("x-amz-content-sha256 does not match the body")
		}
		at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			return fmt.Errorf("x-amz-date: %v", err)
		}
		req, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
		req.Host = r.Host
		for _, h := range signed {
			switch h {
			case "host", "x-amz-date", "x-amz-security-token":
			case "content-length":
				req.ContentLength = int64(len(body))
			default:
				req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
			}
		}
		if !slices.Contains(signed, "x-amz-security-token") {
			return fmt.Errorf("x-amz-security-token is not signed")
		}
		signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = service == "s3" })
		if err := signer.SignHTTP(context.Background(), f.creds, req, payload, service, m[3], at); err != nil {
			return err
		}
		if got, want := r.Header.Get("Authorization"), req.Header.Get("Authorization"); got != want {
			return fmt.Errorf("signature mismatch:\n got  %s\n want %s", got, want)
		}
		return nil
	}()
	if err != nil {
		f.mu.Lock()
		f.badSigs = append(f.badSigs, r.Method+" "+r.URL.Path+": "+err.Error())
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<Error><Code>SignatureDoesNotMatch</Code><Message>%s</Message></Error>", xmlEscape(err.Error()))
		return false
	}
	return true
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// --- IMDSv2 ----------------------------------------------------------------------

func (f *fakeAWS) serveIMDS(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/imds")
	if path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "token needs PUT with a TTL", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, f.imdsToken)
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != f.imdsToken {
		http.Error(w, "", http.StatusUnauthorized) // IMDSv2 required
		return
	}
	switch path {
	case "/latest/meta-data/iam/security-credentials/":
		fmt.Fprint(w, "kisgen-node")
	case "/latest/meta-data/iam/security-credentials/kisgen-node":
		fmt.Fprintf(w, "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-24T20:00:00Z\",\n  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : %q,\n  \"SecretAccessKey\" : %q,\n  \"Token\" : %q,\n  \"Expiration\" : \"2026-11-25T02:00:00Z\"\n}",
			f.creds.AccessKeyID, f.creds.SecretAccessKey, f.creds.SessionToken)
	default:
		http.NotFound(w, r)
	}
}

// --- S3 ----------------------------------------------------------------------------

func (f *fakeAWS) serveS3(w http.ResponseWriter, r *http.Request, body []byte) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	f.log("s3:" + r.Method + " " + key)
	if e, ok := f.injectedFailure("s3:" + r.Method); ok {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(e.status)
		fmt.Fprintf(w, "<Error><Code>%s</Code><Message>injected by the test</Message></Error>", e.code)
		return
	}
	s3Error := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, xmlEscape(msg))
	}
	bucketName, objKey, _ := strings.Cut(key, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.buckets[bucketName]
	if !ok {
		s3Error(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
		return
	}
	q := r.URL.Query()
	if objKey == "" { // bucket operations
		switch {
		case r.Method == http.MethodGet && q.Has("location"):
			loc := b.region
			if loc == "us-east-1" {
				loc = "" // S3 reports us-east-1 as an empty constraint
			}
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s</LocationConstraint>`, loc)
		case r.Method == http.MethodGet && q.Has("versioning"):
			status := ""
			if b.versioning != "" {
				status = "<Status>" + b.versioning + "</Status>"
			}
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">%s</VersioningConfiguration>`, status)
		case r.Method == http.MethodGet && q.Has("versions"):
			f.listVersions(w, bucketName, q.Get("prefix"))
		default:
			s3Error(http.StatusNotImplemented, "NotImplemented", "the fake does not implement "+r.Method+" "+r.URL.RequestURI())
		}
		return
	}
	vid := q.Get("versionId")
	switch r.Method {
	case http.MethodPut:
		if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
			body = decodeChunked(body)
		}
		f.shelve(b, key)
		f.objects[key] = body
		f.objHeaders[key] = r.Header.Clone()
		f.currentVersion[key] = f.newVersionID(b)
		w.Header().Set("ETag", `"fake"`)
		if b.versioning != "" {
			w.Header().Set("X-Amz-Version-Id", f.currentVersion[key])
		}
	case http.MethodGet:
		body, ok := f.objects[key]
		if !ok {
			s3Error(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		_, _ = w.Write(body)
	case http.MethodDelete:
		switch {
		case vid != "" && vid == f.currentVersion[key]:
			delete(f.objects, key)
			delete(f.currentVersion, key)
		case vid != "":
			vs := f.versions[key]
			for i, v := range vs {
				if v.id == vid {
					f.versions[key] = append(vs[:i:i], vs[i+1:]...)
					break
				}
			}
		default:
			// Without a version: unversioned, the object goes; versioned, it becomes a
			// noncurrent version behind a delete marker (suspended: the null version goes).
			f.shelve(b, key)
			delete(f.objects, key)
			delete(f.currentVersion, key)
			if b.versioning != "" {
				f.versions[key] = append(f.versions[key], objVersion{id: f.newVersionID(b), deleteMarker: true})
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// objVersion is a noncurrent version of an object, or a delete marker.
type objVersion struct {
	id           string
	body         []byte
	deleteMarker bool
}

type fakeBucket struct {
	region string
	// versioning is "", "Enabled" or "Suspended".
	versioning string
}

// newVersionID is the version id S3 gives a new object or delete marker.
func (f *fakeAWS) newVersionID(b *fakeBucket) string {
	if b.versioning != "Enabled" {
		return "null"
	}
	f.versionSeq++
	return fmt.Sprintf("v%04d", f.versionSeq)
}

// shelve keeps the current version of key as a noncurrent one when the bucket keeps
// versions; a null version (unversioned or suspended) is replaced instead.
func (f *fakeAWS) shelve(b *fakeBucket, key string) {
	body, ok := f.objects[key]
	if !ok || b.versioning == "" {
		return
	}
	if id := f.currentVersion[key]; id != "null" {
		f.versions[key] = append(f.versions[key], objVersion{id: id, body: body})
	}
}

func (f *fakeAWS) listVersions(w http.ResponseWriter, bucket, prefix string) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>` + bucket + `</Name><Prefix>` + xmlEscape(prefix) + `</Prefix><IsTruncated>false</IsTruncated>`)
	var keys []string
	for k := range f.objects {
		keys = append(keys, k)
	}
	for k := range f.versions {
		if _, ok := f.objects[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, full := range keys {
		bk, k, _ := strings.Cut(full, "/")
		if bk != bucket || !strings.HasPrefix(k, prefix) {
			continue
		}
		if _, ok := f.objects[full]; ok {
			fmt.Fprintf(&b, "<Version><Key>%s</Key><VersionId>%s</VersionId><IsLatest>true</IsLatest></Version>", xmlEscape(k), f.currentVersion[full])
		}
		for _, v := range f.versions[full] {
			elem := "Version"
			if v.deleteMarker {
				elem = "DeleteMarker"
			}
			fmt.Fprintf(&b, "<%s><Key>%s</Key><VersionId>%s</VersionId><IsLatest>false</IsLatest></%s>", elem, xmlEscape(k), v.id, elem)
		}
	}
	b.WriteString("</ListVersionsResult>")
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, b.String())
}

// versionsOf lists every version and delete marker the fake keeps under bucket/prefix.
func (f *fakeAWS) versionsOf(bucket, prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.objects {
		if strings.HasPrefix(k, bucket+"/"+prefix) {
			out = append(out, k+"@"+f.currentVersion[k])
		}
	}
	for k, vs := range f.versions {
		if strings.HasPrefix(k, bucket+"/"+prefix) {
			for _, v := range vs {
				out = append(out, k+"@"+v.id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// decodeChunked reads an aws-chunked body: hex-size[;chunk-signature=...]\r\ndata\r\n…
func decodeChunked(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte("\r\n"))
		if !ok {
			break
		}
		size, err := strconv.ParseInt(string(bytes.SplitN(line, []byte(";"), 2)[0]), 16, 64)
		if err != nil || size == 0 {
			break
		}
		out = append(out, rest[:size]...)
		b = rest[size+2:]
	}
	return out
}

// --- SSM ---------------------------------------------------------------------------

func (f *fakeAWS) serveSSM(w http.ResponseWriter, r *http.Request, body []byte) {
	action := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.")
	f.log("ssm:" + action)
	failWith := func(status int, code, msg string) {
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
	}
	fail := func(code, msg string) { failWith(http.StatusBadRequest, code, msg) }
	if e, ok := f.injectedFailure("ssm:" + action); ok {
		failWith(e.status, e.code, "injected by the test")
		return
	}
	var in struct {
		Name, Value, Type, Tier   string
		Path                      string
		Overwrite, WithDecryption bool
		Names                     []string
		Tags                      []struct{ Key, Value string }
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail("ValidationException", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch action {
	case "PutParameter":
		limit := 4096
		if in.Tier == "Advanced" {
			limit = 8192
		}
		if len(in.Value) > limit {
			fail("ValidationException", fmt.Sprintf("value of %d characters exceeds the %s tier's %d", len(in.Value), in.Tier, limit))
			return
		}
		if in.Overwrite && len(in.Tags) > 0 {
			fail("ValidationException", "Invalid request: tags and overwrite can't be used together.")
			return
		}
		if _, ok := f.params[in.Name]; ok && !in.Overwrite {
			fail("ParameterAlreadyExists", "The parameter already exists.")
			return
		}
		p := ssmParam{Value: in.Value, Type: in.Type, Tier: in.Tier, Tags: map[string]string{}}
		for _, t := range in.Tags {
			p.Tags[t.Key] = t.Value
		}
		if old, ok := f.params[in.Name]; ok && len(in.Tags) == 0 {
			p.Tags = old.Tags
		}
		f.params[in.Name] = p
		fmt.Fprintf(w, `{"Version":1,"Tier":%q}`, in.Tier)
	case "GetParameter":
		p, ok := f.params[in.Name]
		if !ok {
			fail("ParameterNotFound", in.Name)
			return
		}
		v := p.Value
		if p.Type == "SecureString" && !in.WithDecryption {
			v = "AQICAHh-kms-ciphertext"
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in.Name, "Type": p.Type, "Value": v, "Version": 1}})
	case "GetParametersByPath":
		var prms []map[string]any
		for _, name := range slices.Sorted(maps.Keys(f.params)) {
			if strings.HasPrefix(name, strings.TrimSuffix(in.Path, "/")+"/") {
				prms = append(prms, map[string]any{"Name": name, "Type": f.params[name].Type, "Version": 1})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameters": prms})
	case "DeleteParameters":
		if len(in.Names) > 10 {
			fail("ValidationException", fmt.Sprintf("1 validation error detected: Value '%v' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10", in.Names))
			return
		}
		var deleted, invalid []string
		for _, n := range in.Names {
			if _, ok := f.params[n]; ok {
				delete(f.params, n)
				deleted = append(deleted, n)
			} else {
				invalid = append(invalid, n)
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid})
	default:
		fail("InvalidAction", action)
	}
}

// --- EC2 ---------------------------------------------------------------------------

func ec2Error(w http.ResponseWriter, code, msg string) {
	ec2ErrorStatus(w, http.StatusBadRequest, code, msg)
}

func ec2ErrorStatus(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>fake</RequestID></Response>", code, xmlEscape(msg))
}

// indexed collects form values "Prefix.N" in N order.
func indexed(form url.Values, prefix string) []string {
	type kv struct {
		n int
		v string
	}
	var out []kv
	for k, vs := range form {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			if n, err := strconv.Atoi(rest); err == nil {
				out = append(out, kv{n, vs[0]})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n < out[j].n })
	vals := make([]string, len(out))
	for i, x := range out {
		vals[i] = x.v
	}
	return vals
}

// tagSpecs reads TagSpecification.N.{ResourceType,Tag.M.Key,Tag.M.Value} into a
// CreateTags form per resource type.
func tagSpecs(form url.Values) map[string]url.Values {
	out := map[string]url.Values{}
	for i := 1; ; i++ {
		p := fmt.Sprintf("TagSpecification.%d.", i)
		rt := form.Get(p + "ResourceType")
		if rt == "" {
			return out
		}
		v := url.Values{"Action": {"CreateTags"}}
		for j := 1; ; j++ {
			k := form.Get(fmt.Sprintf("%sTag.%d.Key", p, j))
			if k == "" {
				break
			}
			v.Set(fmt.Sprintf("Tag.%d.Key", j), k)
			v.Set(fmt.Sprintf("Tag.%d.Value", j), form.Get(fmt.Sprintf("%sTag.%d.Value", p, j)))
		}
		out[rt] = v
	}
}

// forward sends a form to ec2test and returns its status and body, one at a time:
// ec2test's handlers share its maps without a lock (RunInstances against CreateTags is
// a data race), and the provider calls in parallel.
func (f *fakeAWS) forward(form url.Values) (int, []byte) {
	f.innerMu.Lock()
	defer f.innerMu.Unlock()
	resp, err := http.PostForm(f.inner.URL(), form)
	if err != nil {
		f.t.Errorf("ec2test: %v", err)
		return 500, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *fakeAWS) reply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

var instanceIDRE = regexp.MustCompile(`<instanceId>(i-\d+)</instanceId>`)

func (f *fakeAWS) serveEC2(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		ec2Error(w, "InvalidParameterValue", err.Error())
		return
	}
	action := form.Get("Action")
	if action == "RunInstances" {
		f.log("ec2:RunInstances " + form.Get("PrivateIpAddress"))
	} else {
		f.log("ec2:" + action)
	}
	if e, ok := f.injectedFailure("ec2:" + action); ok {
		ec2ErrorStatus(w, e.status, e.code, "injected by the test")
		return
	}
	switch action {
	case "RunInstances":
		f.runInstances(w, form)
	case "CreateSecurityGroup":
		status, out := f.forward(form)
		if status == 200 {
			var resp struct {
				GroupID string `xml:"groupId"`
			}
			_ = xml.Unmarshal(out, &resp)
			f.mu.Lock()
			f.groupVPCs[resp.GroupID] = form.Get("VpcId")
			f.mu.Unlock()
			if tv, ok := tagSpecs(form)["security-group"]; ok {
				tv.Set("ResourceId.1", resp.GroupID)
				f.forward(tv)
			}
		}
		f.reply(w, status, out)
	case "AuthorizeSecurityGroupIngress":
		for k := range form {
			if strings.HasSuffix(k, ".Description") {
				form.Del(k) // ec2test does not know rule descriptions
			}
		}
		status, out := f.forward(form)
		f.reply(w, status, out)
	case "DeleteSecurityGroup":
		// EC2 refuses while a load balancer's network interfaces are in the group.
		f.mu.Lock()
		inUse := f.lbUsesGroupLocked(form.Get("GroupId"))
		f.mu.Unlock()
		if inUse {
			ec2Error(w, "DependencyViolation", fmt.Sprintf("resource %s has a dependent object", form.Get("GroupId")))
			return
		}
		status, out := f.forward(form)
		f.reply(w, status, out)
	case "TerminateInstances":
		status, out := f.forward(form)
		if status == 200 {
			f.mu.Lock()
			for _, id := range indexed(form, "InstanceId") {
				delete(f.states, id) // ec2test's shutting-down, then terminated
				for ip, owner := range f.ips {
					if owner == id {
						delete(f.ips, ip)
					}
				}
			}
			f.mu.Unlock()
		}
		f.reply(w, status, out)
	case "DescribeInstances":
		status, out := f.forward(form)
		if status == 200 {
			out = f.enrich(out)
		}
		f.reply(w, status, out)
	case "DescribeImages":
		var items strings.Builder
		for _, id := range indexed(form, "ImageId") {
			f.mu.Lock()
			dev, ok := f.images[id]
			f.mu.Unlock()
			if !ok {
				ec2Error(w, "InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", id))
				return
			}
			fmt.Fprintf(&items, "<item><imageId>%s</imageId><imageState>available</imageState><rootDeviceName>%s</rootDeviceName><rootDeviceType>ebs</rootDeviceType></item>", id, dev)
		}
		f.reply(w, 200, []byte("<DescribeImagesResponse><requestId>fake</requestId><imagesSet>"+items.String()+"</imagesSet></DescribeImagesResponse>"))
	case "DescribeKeyPairs":
		var items strings.Builder
		for _, k := range indexed(form, "KeyName") {
			if !f.keyPairs[k] {
				ec2Error(w, "InvalidKeyPair.NotFound", fmt.Sprintf("The key pair '%s' does not exist", k))
				return
			}
			fmt.Fprintf(&items, "<item><keyName>%s</keyName><keyPairId>key-0%x</keyPairId></item>", k, len(k))
		}
		f.reply(w, 200, []byte("<DescribeKeyPairsResponse><requestId>fake</requestId><keySet>"+items.String()+"</keySet></DescribeKeyPairsResponse>"))
	case "StartInstances":
		f.startInstances(w, form)
	case "ModifyInstanceAttribute":
		groups := indexed(form, "GroupId")
		if len(groups) == 0 { // sourceDestCheck and the rest: ec2test's
			status, out := f.forward(form)
			f.reply(w, status, out)
			return
		}
		id := form.Get("InstanceId")
		if f.inner.Instance(id) == nil {
			ec2Error(w, "InvalidInstanceID.NotFound", id)
			return
		}
		f.mu.Lock()
		f.groups[id] = groups
		f.mu.Unlock()
		f.reply(w, 200, []byte("<ModifyInstanceAttributeResponse><requestId>fake</requestId><return>true</return></ModifyInstanceAttributeResponse>"))
	case "ModifyInstanceMetadataOptions":
		id := form.Get("InstanceId")
		if f.inner.Instance(id) == nil {
			ec2Error(w, "InvalidInstanceID.NotFound", id)
			return
		}
		f.mu.Lock()
		f.metadata[id] = url.Values{
			"HttpTokens": {form.Get("HttpTokens")}, "HttpPutResponseHopLimit": {form.Get("HttpPutResponseHopLimit")}, "HttpEndpoint": {form.Get("HttpEndpoint")},
		}
		f.mu.Unlock()
		f.reply(w, 200, []byte(fmt.Sprintf("<ModifyInstanceMetadataOptionsResponse><requestId>fake</requestId><instanceId>%s</instanceId><instanceMetadataOptions><state>pending</state><httpTokens>%s</httpTokens></instanceMetadataOptions></ModifyInstanceMetadataOptionsResponse>", id, form.Get("HttpTokens"))))
	default:
		status, out := f.forward(form)
		f.reply(w, status, out)
	}
}

func (f *fakeAWS) runInstances(w http.ResponseWriter, form url.Values) {
	token := form.Get("ClientToken")
	ip := form.Get("PrivateIpAddress")
	if ud, err := base64.StdEncoding.DecodeString(form.Get("UserData")); err != nil || len(ud) > 16384 {
		ec2Error(w, "InvalidParameterValue", "User data is limited to 16384 bytes")
		return
	}
	f.mu.Lock()
	if id, ok := f.tokens[token]; ok && token != "" {
		f.mu.Unlock()
		// Same token: EC2 returns the instance of the first call and launches nothing.
		f.reply(w, 200, []byte(fmt.Sprintf("<RunInstancesResponse><requestId>fake</requestId><reservationId>r-0</reservationId><ownerId>9876</ownerId><instancesSet><item><instanceId>%s</instanceId><instanceState><code>16</code><name>running</name></instanceState></item></instancesSet></RunInstancesResponse>", id)))
		return
	}
	if owner, inUse := f.ips[ip]; inUse && ip != "" {
		f.mu.Unlock()
		ec2Error(w, "InvalidIPAddress.InUse", fmt.Sprintf("Address %s is in use by %s", ip, owner))
		return
	}
	f.mu.Unlock()
	fwd := url.Values{}
	for k, v := range form {
		if strings.HasSuffix(k, ".Ebs.Encrypted") {
			continue // ec2test rejects fields it does not know
		}
		fwd[k] = v
	}
	// EC2 puts an instance in its subnet's zone; ec2test in its default one.
	if sub := form.Get("SubnetId"); sub != "" && form.Get("Placement.AvailabilityZone") == "" {
		if s, ok := f.subnetFacts(sub); ok {
			fwd.Set("Placement.AvailabilityZone", s.zone)
		}
	}
	status, out := f.forward(fwd)
	if status != 200 {
		f.reply(w, status, out)
		return
	}
	ids := instanceIDRE.FindAllStringSubmatch(string(out), -1)
	for _, m := range ids {
		id := m[1]
		if tv, ok := tagSpecs(form)["instance"]; ok {
			tv.Set("ResourceId.1", id)
			f.forward(tv)
		}
		f.mu.Lock()
		f.runs[id] = form
		f.states[id] = append(slices.Repeat([]string{"pending"}, pendingPolls), "running")
		if token != "" {
			f.tokens[token] = id
		}
		if ip != "" {
			f.ips[ip] = id
		}
		f.metadata[id] = url.Values{
			"HttpTokens":              {form.Get("MetadataOptions.HttpTokens")},
			"HttpPutResponseHopLimit": {form.Get("MetadataOptions.HttpPutResponseHopLimit")},
			"HttpEndpoint":            {form.Get("MetadataOptions.HttpEndpoint")},
		}
		f.mu.Unlock()
	}
	// EC2 answers RunInstances with the instances pending.
	f.reply(w, status, instanceStateRE.ReplaceAll(out, []byte(stateXML("instanceState", "pending"))))
}

// startInstances takes stopped instances through pending to running.
func (f *fakeAWS) startInstances(w http.ResponseWriter, form url.Values) {
	var items strings.Builder
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range indexed(form, "InstanceId") {
		if f.inner.Instance(id) == nil {
			ec2Error(w, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", id))
			return
		}
		prev := f.stateLocked(id)
		if prev != "stopped" && prev != "running" && prev != "pending" {
			ec2Error(w, "IncorrectInstanceState", fmt.Sprintf("The instance '%s' is not in a state from which it can be started.", id))
			return
		}
		if prev == "stopped" {
			f.states[id] = []string{"pending", "running"}
		}
		fmt.Fprintf(&items, "<item><instanceId>%s</instanceId>%s%s</item>", id, stateXML("currentState", "pending"), stateXML("previousState", prev))
	}
	f.reply(w, 200, []byte("<StartInstancesResponse><requestId>fake</requestId><instancesSet>"+items.String()+"</instancesSet></StartInstancesResponse>"))
}

// stateLocked is the state an instance is in now, as DescribeInstances last showed it.
func (f *fakeAWS) stateLocked(id string) string {
	if q := f.states[id]; len(q) > 0 {
		return q[0]
	}
	return f.describeOne(id)
}

// describeOne asks ec2test for one instance's state name.
func (f *fakeAWS) describeOne(id string) string {
	status, out := f.forward(url.Values{"Action": {"DescribeInstances"}, "InstanceId.1": {id}})
	if status != 200 {
		return ""
	}
	m := regexp.MustCompile(`<instanceState>\s*<code>\d+</code>\s*<name>([a-z-]+)</name>`).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// enrich adds what ec2test does not report about instances launched through the fake.
func (f *fakeAWS) enrich(out []byte) []byte {
	s := string(out)
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, md := range f.metadata {
		extra := fmt.Sprintf("<metadataOptions><state>applied</state><httpTokens>%s</httpTokens><httpPutResponseHopLimit>%s</httpPutResponseHopLimit><httpEndpoint>%s</httpEndpoint></metadataOptions>",
			md.Get("HttpTokens"), md.Get("HttpPutResponseHopLimit"), md.Get("HttpEndpoint"))
		if form, ok := f.runs[id]; ok {
			if k := form.Get("KeyName"); k != "" {
				extra += "<keyName>" + k + "</keyName>"
			}
			if ip := form.Get("PrivateIpAddress"); ip != "" {
				seq, _ := strconv.Atoi(strings.TrimPrefix(id, "i-"))
				s = strings.ReplaceAll(s, fmt.Sprintf("<privateIpAddress>127.0.0.%d</privateIpAddress>", seq%256), "<privateIpAddress>"+ip+"</privateIpAddress>")
			}
		}
		tag := "<instanceId>" + id + "</instanceId>"
		s = strings.Replace(s, tag, tag+extra, 1)
	}
	for id, gs := range f.groups {
		tag := "<instanceId>" + id + "</instanceId>"
		at := strings.Index(s, tag)
		if at < 0 {
			continue
		}
		loc := groupSetRE.FindStringIndex(s[at:])
		if loc == nil {
			continue
		}
		var items strings.Builder
		for _, g := range gs {
			fmt.Fprintf(&items, "<item><groupId>%s</groupId></item>", g)
		}
		s = s[:at+loc[0]] + "<groupSet>" + items.String() + "</groupSet>" + s[at+loc[1]:]
	}
	for id, q := range f.states {
		tag := "<instanceId>" + id + "</instanceId>"
		at := strings.Index(s, tag)
		if at < 0 || len(q) == 0 {
			continue
		}
		loc := instanceStateRE.FindStringIndex(s[at:])
		if loc == nil {
			continue
		}
		s = s[:at+loc[0]] + stateXML("instanceState", q[0]) + s[at+loc[1]:]
		if len(q) > 1 {
			f.states[id] = q[1:]
		}
	}
	return []byte(s)
}
