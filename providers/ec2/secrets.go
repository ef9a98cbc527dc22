package ec2

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"text/template"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

var (
	//go:embed stub/fetch-userdata.py
	fetchStubText string
	//go:embed stub/delete-ignition-config.sh
	deleteStubText string

	fetchStub  = template.Must(template.New("fetch-userdata.py").Option("missingkey=error").Parse(fetchStubText))
	deleteStub = template.Must(template.New("delete-ignition-config.sh").Option("missingkey=error").Parse(deleteStubText))
)

// Where the stubs put and keep things on the node.
const (
	// CloudConfigDropIn is where the fetched cloud-config lands: cloud-init re-reads its
	// configuration directory after boothooks, for every module that runs later.
	CloudConfigDropIn = "/etc/cloud/cloud.cfg.d/99-kisgen-userdata.cfg"
	deleteScriptPath  = "/var/lib/kisgen/delete-ignition-config"
	deleteUnitName    = "kisgen-delete-ignition-config.service"
	// fetchTimeoutSeconds bounds how long a node keeps retrying (network and instance
	// role credentials can take a while at first boot).
	fetchTimeoutSeconds = 900
	// ssmChunk is the largest value of an advanced-tier SSM parameter.
	ssmChunk     = 8192
	ssmStandard  = 4096
	ssmMaxChunks = 16
	// ssmDeleteBatch is the most names one DeleteParameters call takes.
	ssmDeleteBatch = 10
)

// nodeEndpoints are the URLs the stubs use on the node.
type nodeEndpoints struct {
	IMDS   string
	SSM    string
	Object func(bucket, key string) string
}

func awsEndpoints(region string) nodeEndpoints {
	return nodeEndpoints{
		IMDS: "http://169.254.169.254",
		SSM:  "https://ssm." + region + ".amazonaws.com/",
		Object: func(bucket, key string) string {
			if strings.Contains(bucket, ".") { // a dotted bucket breaks virtual-hosted TLS names
				return "https://s3." + region + ".amazonaws.com/" + bucket + "/" + key
			}
			return "https://" + bucket + ".s3." + region + ".amazonaws.com/" + key
		},
	}
}

// secretLocation is where a node's real user-data is kept in s3 or ssm mode.
type secretLocation struct {
	Mode       string
	Bucket     string
	Key        string
	Body       []byte
	Parameters []string
	Chunks     []string
}

func (s *secretLocation) where() string {
	if s.Mode == SecretsS3 {
		return "s3://" + s.Bucket + "/" + s.Key
	}
	if len(s.Parameters) == 1 {
		return "ssm:" + s.Parameters[0]
	}
	return fmt.Sprintf("ssm:%s (and %d more)", s.Parameters[0], len(s.Parameters)-1)
}

// ObjectKey is the S3 key of a node's user-data in s3 mode.
func ObjectKey(cluster, host string, format plan.Format) string {
	if format == plan.FormatIgnition {
		return "kisgen/" + cluster + "/" + host + "/config.ign"
	}
	return "kisgen/" + cluster + "/" + host + "/user-data"
}

// ParameterName is the name of the i-th SSM parameter holding a node's user-data.
func ParameterName(cluster, host string, i int) string {
	return fmt.Sprintf("/kisgen/%s/%s/user-data/%d", cluster, host, i)
}

// secretStub stores nothing yet: it works out where the node's user-data will be kept
// and the stub user-data that fetches it.
func secretStub(cluster string, m providers.Machine, mode, bucket, region string, ends nodeEndpoints) (userData, secretLocation, error) {
	host := m.Node.Host
	gz := gzipBytes(m.UserData)
	loc := secretLocation{Mode: mode}
	if m.Format == plan.FormatIgnition {
		if mode != SecretsS3 {
			return userData{}, loc, fmt.Errorf("%w: node %s boots with Ignition, which can fetch its config from S3 but not from SSM: set provider.aws.secrets to s3", ErrSecretsMode, host)
		}
		loc.Bucket, loc.Key, loc.Body = bucket, ObjectKey(cluster, host, m.Format), gz
		version, err := ignitionVersion(m.UserData)
		if err != nil {
			return userData{}, loc, fmt.Errorf("node %s: %w", host, err)
		}
		object := ends.Object(bucket, loc.Key)
		var script bytes.Buffer
		if err := deleteStub.Execute(&script, map[string]string{
			"Where": loc.where(), "IMDS": shellQuote(ends.IMDS), "Object": shellQuote(object), "Region": shellQuote(region),
		}); err != nil {
			return userData{}, loc, err
		}
		stub, err := ignitionStub(version, ignResource{Source: "s3://" + bucket + "/" + loc.Key, Compression: "gzip"}, &ignConfig{
			Storage: &ignStorage{Files: []ignFile{{Path: deleteScriptPath, Mode: 0o700, Contents: ignResource{Source: dataURL(script.Bytes())}}}},
			Systemd: &ignSystemd{Units: []ignUnit{{Name: deleteUnitName, Enabled: true, Contents: deleteUnit}}},
		})
		if err != nil {
			return userData{}, loc, err
		}
		return userData{Data: stub, How: fmt.Sprintf("an Ignition config of %d bytes that merges %s", len(stub), loc.where())}, loc, nil
	}

	if !bytes.HasPrefix(m.UserData, []byte("#cloud-config")) {
		return userData{}, loc, fmt.Errorf("%w: node %s: secrets mode %s hands the user-data to cloud-init as configuration, which needs a #cloud-config document", ErrSecretsMode, host, mode)
	}
	conf := map[string]any{
		"mode": mode, "region": region, "imds": ends.IMDS, "out": CloudConfigDropIn, "timeout": fetchTimeoutSeconds,
	}
	switch mode {
	case SecretsS3:
		loc.Bucket, loc.Key, loc.Body = bucket, ObjectKey(cluster, host, m.Format), gz
		conf["object"] = ends.Object(bucket, loc.Key)
	case SecretsSSM:
		b64 := base64.StdEncoding.EncodeToString(gz)
		for i := 0; len(b64) > 0; i++ {
			n := min(len(b64), ssmChunk)
			loc.Chunks = append(loc.Chunks, b64[:n])
			loc.Parameters = append(loc.Parameters, ParameterName(cluster, host, i))
			b64 = b64[n:]
		}
		if len(loc.Chunks) > ssmMaxChunks {
			return userData{}, loc, fmt.Errorf("%w: node %s: %d bytes of user-data need %d SSM parameters (at most %d): use secrets mode s3", providers.ErrUserDataTooLarge, host, len(m.UserData), len(loc.Chunks), ssmMaxChunks)
		}
		conf["ssm"] = ends.SSM
		conf["parameters"] = loc.Parameters
	default:
		return userData{}, loc, fmt.Errorf("%w: unknown secrets mode %q (use inline, s3 or ssm)", ErrSecretsMode, mode)
	}
	conf["where"] = loc.where()
	confJSON, err := json.Marshal(conf)
	if err != nil {
		return userData{}, loc, err
	}
	literal, err := json.Marshal(string(confJSON)) // a JSON string is also a Python string literal
	if err != nil {
		return userData{}, loc, err
	}
	var stub bytes.Buffer
	if err := fetchStub.Execute(&stub, map[string]string{"Mode": mode, "Where": loc.where(), "Conf": string(literal)}); err != nil {
		return userData{}, loc, err
	}
	if stub.Len() > MaxUserData {
		return userData{}, loc, fmt.Errorf("%w: node %s: the %s stub is %d bytes", providers.ErrUserDataTooLarge, host, mode, stub.Len())
	}
	return userData{Data: stub.Bytes(), How: fmt.Sprintf("a %d-byte stub fetching %s", stub.Len(), loc.where())}, loc, nil
}

const deleteUnit = `[Unit]
Description=Delete this node's Ignition config from S3 (kisgen secrets mode s3)
Wants=network-online.target
After=network-online.target
ConditionPathExists=!/var/lib/kisgen/ignition-config-deleted

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh ` + deleteScriptPath + `
ExecStartPost=/usr/bin/touch /var/lib/kisgen/ignition-config-deleted

[Install]
WantedBy=multi-user.target
`

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// storeSecret puts a node's user-data where its stub will fetch it, after recording the
// location so that --destroy removes it even when the node never boots.
func (e *EC2) storeSecret(ctx context.Context, c clients, p *plan.Plan, n *plan.Node, loc *secretLocation, rec *recorder) error {
	if err := rec.update(func(r *record) {
		nr := r.Nodes[n.Host]
		if loc.Mode == SecretsS3 {
			nr.S3Object = "s3://" + loc.Bucket + "/" + loc.Key
		} else {
			nr.SSMParameters = loc.Parameters
		}
	}); err != nil {
		return err
	}
	if loc.Mode == SecretsS3 {
		tagging := url.Values{TagCluster: {p.Name}, TagHost: {n.Host}}.Encode()
		_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket:               aws.String(loc.Bucket),
			Key:                  aws.String(loc.Key),
			Body:                 bytes.NewReader(loc.Body),
			ContentType:          aws.String("application/gzip"),
			ServerSideEncryption: s3types.ServerSideEncryptionAes256,
			Tagging:              aws.String(tagging),
		})
		if err != nil {
			return fmt.Errorf("store the user-data at %s: %w", loc.where(), apiErr(err))
		}
		return nil
	}
	for i, name := range loc.Parameters {
		tier := ssmtypes.ParameterTierStandard
		if len(loc.Chunks[i]) > ssmStandard {
			tier = ssmtypes.ParameterTierAdvanced
		}
		in := &ssm.PutParameterInput{
			Name:        aws.String(name),
			Value:       aws.String(loc.Chunks[i]),
			Type:        ssmtypes.ParameterTypeSecureString,
			Tier:        tier,
			Description: aws.String(fmt.Sprintf("kisgen: user-data of %s in cluster %s, part %d of %d; deleted by the node after use", n.Host, p.Name, i+1, len(loc.Parameters))),
			Tags: []ssmtypes.Tag{
				{Key: aws.String(TagCluster), Value: aws.String(p.Name)},
				{Key: aws.String(TagHost), Value: aws.String(n.Host)},
			},
		}
		_, err := c.ssm.PutParameter(ctx, in)
		if isCode(err, "ParameterAlreadyExists") {
			// Left by an earlier run that failed before launching: overwrite it (tags
			// cannot be given with Overwrite; the first run set them).
			in.Overwrite, in.Tags = aws.Bool(true), nil
			_, err = c.ssm.PutParameter(ctx, in)
		}
		if err != nil {
			return fmt.Errorf("store the user-data in SSM parameter %s: %w", name, apiErr(err))
		}
	}
	return nil
}

// checkBucket refuses a secrets bucket that would keep a node's user-data after the node
// deleted it, or that the node's stub would not reach: one with versioning enabled (S3
// keeps a deleted object as a noncurrent version, readable by anyone allowed
// s3:GetObjectVersion), or one in another region than the cluster (the stubs sign for, and
// fetch from, the cluster's region). A suspended bucket is accepted: new objects get the
// null version, which a delete removes; destroy deletes every version kisgen's keys have.
func checkBucket(ctx context.Context, c clients, bucket string) error {
	loc, err := c.s3.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bucket)})
	if err != nil {
		return fmt.Errorf("provider.aws.secrets_bucket: find the region of bucket %s: %w", bucket, apiErr(err))
	}
	region := string(loc.LocationConstraint)
	switch region {
	case "":
		region = "us-east-1" // S3's answer for the original region
	case "EU":
		region = "eu-west-1"
	}
	if region != c.region {
		return fmt.Errorf("%w: provider.aws.secrets_bucket: bucket %s is in %s, the cluster in %s: the nodes fetch their user-data from %s's endpoint; use a bucket in %s", ErrSecretsMode, bucket, region, c.region, c.region, c.region)
	}
	v, err := c.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(bucket)})
	if err != nil {
		return fmt.Errorf("provider.aws.secrets_bucket: read the versioning of bucket %s: %w", bucket, apiErr(err))
	}
	if v.Status == s3types.BucketVersioningStatusEnabled {
		return fmt.Errorf("%w: provider.aws.secrets_bucket: bucket %s keeps versions: the user-data a node deletes after reading it would stay readable as a noncurrent version; use a bucket without versioning (or suspend it)", ErrSecretsMode, bucket)
	}
	return nil
}

// deleteObjectVersions deletes every version and delete marker of bucket/key: in a bucket
// that keeps (or once kept) versions, a plain delete leaves the data behind.
func deleteObjectVersions(ctx context.Context, c clients, bucket, key string) error {
	pg := s3.NewListObjectVersionsPaginator(c.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	var ids []string
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list the versions of s3://%s/%s: %w", bucket, key, apiErr(err))
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == key {
				ids = append(ids, aws.ToString(v.VersionId))
			}
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == key {
				ids = append(ids, aws.ToString(m.VersionId))
			}
		}
	}
	for _, id := range ids {
		_, err := c.s3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(id)})
		if err != nil && !isCode(err, "NoSuchKey", "NoSuchVersion", "NotFound") {
			return fmt.Errorf("delete s3://%s/%s version %s: %w", bucket, key, id, apiErr(err))
		}
	}
	return nil
}

// sweepSecrets deletes every secret stored under the cluster's name in the plan's secrets
// mode, recorded or not: the SSM parameters under /kisgen/CLUSTER/ or every version of the
// objects under s3://BUCKET/kisgen/CLUSTER/.
func sweepSecrets(ctx context.Context, c clients, p *plan.Plan, prog *providers.Progress) error {
	switch secretsMode(p) {
	case SecretsSSM:
		var names []string
		pg := ssm.NewGetParametersByPathPaginator(c.ssm, &ssm.GetParametersByPathInput{Path: aws.String("/kisgen/" + p.Name), Recursive: aws.Bool(true)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list the SSM parameters under /kisgen/%s: %w", p.Name, apiErr(err))
			}
			for _, prm := range page.Parameters {
				names = append(names, aws.ToString(prm.Name))
			}
		}
		nr := &nodeRecord{SSMParameters: names}
		if err := deleteSecret(ctx, c, nr); err != nil {
			return err
		}
		if len(names) > 0 {
			prog.Printf("deleted %d SSM parameters under /kisgen/%s", len(names), p.Name)
		}
	case SecretsS3:
		bucket, prefix := p.Provider.AWS.SecretsBucket, "kisgen/"+p.Name+"/"
		keys := map[string]bool{}
		pg := s3.NewListObjectVersionsPaginator(c.s3, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, apiErr(err))
			}
			for _, v := range page.Versions {
				keys[aws.ToString(v.Key)] = true
			}
			for _, m := range page.DeleteMarkers {
				keys[aws.ToString(m.Key)] = true
			}
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if err := deleteObjectVersions(ctx, c, bucket, k); err != nil {
				return err
			}
			prog.Printf("deleted s3://%s/%s", bucket, k)
		}
	}
	return nil
}

// deleteSecret removes what storeSecret stored, if the node has not already done so.
func deleteSecret(ctx context.Context, c clients, nr *nodeRecord) error {
	var errs []error
	if nr.S3Object != "" {
		bucket, key, _ := strings.Cut(strings.TrimPrefix(nr.S3Object, "s3://"), "/")
		if err := deleteObjectVersions(ctx, c, bucket, key); err != nil {
			errs = append(errs, err)
		} else {
			nr.S3Object = ""
		}
	}
	// DeleteParameters takes at most ssmDeleteBatch names; a name already gone (the node
	// fetched and deleted it) comes back in InvalidParameters, which is no error.
	var left []string
	for batch := range slices.Chunk(nr.SSMParameters, ssmDeleteBatch) {
		if _, err := c.ssm.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: batch}); err != nil {
			errs = append(errs, fmt.Errorf("delete SSM parameters %s: %w", strings.Join(batch, ", "), apiErr(err)))
			left = append(left, batch...)
		}
	}
	nr.SSMParameters = left
	return errors.Join(errs...)
}
