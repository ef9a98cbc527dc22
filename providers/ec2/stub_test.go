package ec2

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	ignconfig "github.com/coreos/ignition/v2/config"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/providers"
)

// The node-side stubs run here for real: the Python boothook with the system's python3
// (what cloud-init runs on), the Ignition clean-up script with sh and curl. They talk to
// the fake's IMDSv2, S3 and SSM, which check every Signature Version 4 against the SDK's
// signer.

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testtool.Require(t, tool, tool) // python3 and curl are their own packages
	}
}

// runBoothook runs a cloud-init boothook stub as cloud-init would, with its drop-in
// redirected into dir.
func runBoothook(t *testing.T, stub []byte, dir string) (string, error) {
	t.Helper()
	body, ok := bytes.CutPrefix(stub, []byte("#cloud-boothook\n"))
	if !ok {
		t.Fatalf("not a boothook: %.40q", stub)
	}
	body = bytes.ReplaceAll(body, []byte(CloudConfigDropIn), []byte(filepath.Join(dir, "99-kisgen-userdata.cfg")))
	script := filepath.Join(t.TempDir(), "boothook")
	if err := os.WriteFile(script, body, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script).CombinedOutput()
	return string(out), err
}

func TestBoothookFetchesAndDeletesUserData(t *testing.T) {
	need(t, "python3")
	for _, tc := range []struct {
		name, mode string
		size       int
	}{
		{"s3", "s3", 25000},
		{"ssm", "ssm", 25000},
		// 13 parameters: DeleteParameters takes at most 10 names.
		{"ssm, more than ten parameters", "ssm", 100000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			f, p := setup(t, planOpts{secrets: mode})
			data := map[string][]byte{"worker1": cloudConfig("worker1", tc.size, true)}
			got, err := f.provider().Provision(context.Background(), p, machines(p, data), providers.Options{StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			stub := f.inner.Instance(idOf(got, "worker1")).UserData
			// A delete that AWS refuses is retried until the deadline: keep it short.
			stub = bytes.Replace(stub, []byte(`\"timeout\":900`), []byte(`\"timeout\":5`), 1)
			dir := t.TempDir()
			out, err := runBoothook(t, stub, dir)
			if err != nil {
				t.Fatalf("boothook: %v\n%s", err, out)
			}
			dropIn := filepath.Join(dir, "99-kisgen-userdata.cfg")
			b, err := os.ReadFile(dropIn)
			if err != nil || !bytes.Equal(b, data["worker1"]) {
				t.Fatalf("drop-in does not hold the rendered user-data (%v)\n%s", err, out)
			}
			if fi, _ := os.Stat(dropIn); fi.Mode().Perm() != 0o600 {
				t.Errorf("drop-in mode %v, want 0600", fi.Mode().Perm())
			}
			if len(f.badSigs) > 0 {
				t.Errorf("requests the AWS signer rejects: %v", f.badSigs)
			}
			// Deleted at the source once fetched.
			if _, ok := f.objects["kisgen-secrets/kisgen/prod/worker1/user-data"]; ok {
				t.Error("S3 object left after the node fetched it")
			}
			f.mu.Lock()
			for name := range f.params {
				if strings.HasPrefix(name, "/kisgen/prod/worker1/") {
					t.Errorf("SSM parameter %s left after the node fetched it", name)
				}
			}
			f.mu.Unlock()
			// Boothooks run at every boot: the next boot does nothing.
			calls := len(f.actions)
			if out, err := runBoothook(t, stub, dir); err != nil {
				t.Fatalf("second boot: %v\n%s", err, out)
			}
			if len(f.actions) != calls {
				t.Errorf("second boot called AWS: %v", f.actions[calls:])
			}
		})
	}
}

func TestBoothookWaitsForCredentialsAndFailsClearly(t *testing.T) {
	need(t, "python3")
	f, p := setup(t, planOpts{secrets: "s3"})
	got, err := f.provider().Provision(context.Background(), p, machines(p, nil), providers.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stub := f.inner.Instance(idOf(got, "etcd1")).UserData
	// The object is gone (say, fetched by an earlier instance): the stub gives up after
	// its deadline with a message, and leaves no drop-in.
	delete(f.objects, "kisgen-secrets/kisgen/prod/etcd1/user-data")
	stub = bytes.Replace(stub, []byte(`\"timeout\":900`), []byte(`\"timeout\":1`), 1)
	dir := t.TempDir()
	out, err := runBoothook(t, stub, dir)
	if err == nil || !strings.Contains(out, "fetch") || !strings.Contains(out, "404") {
		t.Errorf("got %v:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "99-kisgen-userdata.cfg")); err == nil {
		t.Error("a drop-in was written without user-data")
	}
}

func TestIgnitionS3StubMergesTheObjectAndDeletesIt(t *testing.T) {
	need(t, "sh", "curl")
	f, p := setup(t, planOpts{secrets: "s3", etcdOS: "flatcar"})
	raw := ignitionConfig(30000)
	got, err := f.provider().Provision(context.Background(), p, machines(p, map[string][]byte{"etcd1": raw}), providers.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	stub := f.inner.Instance(idOf(got, "etcd1")).UserData
	cfg, rep, err := ignconfig.Parse(stub)
	if err != nil {
		t.Fatalf("Ignition rejects the stub: %v\n%s", err, rep)
	}
	if len(cfg.Ignition.Config.Merge) != 1 || cfg.Ignition.Config.Merge[0].Source == nil ||
		*cfg.Ignition.Config.Merge[0].Source != "s3://kisgen-secrets/kisgen/prod/etcd1/config.ign" ||
		aws.ToString(cfg.Ignition.Config.Merge[0].Compression) != "gzip" {
		t.Fatalf("merge = %+v", cfg.Ignition.Config.Merge)
	}
	if !bytes.Equal(gunzipIf(f.objects["kisgen-secrets/kisgen/prod/etcd1/config.ign"]), raw) {
		t.Fatal("the object is not the rendered config")
	}
	if len(cfg.Systemd.Units) != 1 || cfg.Systemd.Units[0].Name != deleteUnitName || !aws.ToBool(cfg.Systemd.Units[0].Enabled) {
		t.Fatalf("units = %+v", cfg.Systemd.Units)
	}
	// Run the clean-up script the stub installs.
	if len(cfg.Storage.Files) != 1 || cfg.Storage.Files[0].Path != deleteScriptPath {
		t.Fatalf("files = %+v", cfg.Storage.Files)
	}
	src := aws.ToString(cfg.Storage.Files[0].Contents.Source)
	script, err := url.PathUnescape(strings.TrimPrefix(src, "data:,"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "delete")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", path)
	cmd.Env = append(os.Environ(), "KISGEN_TRIES=3", "KISGEN_RETRY_SECONDS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("clean-up script: %v\n%s", err, out)
	}
	if _, ok := f.objects["kisgen-secrets/kisgen/prod/etcd1/config.ign"]; ok {
		t.Errorf("object left:\n%s", out)
	}
	if len(f.badSigs) > 0 {
		t.Errorf("requests the AWS signer rejects: %v", f.badSigs)
	}
}

func TestFakeRejectsWrongSignatures(t *testing.T) {
	f := newFakeAWS(t)
	e := f.provider()
	wrong := f.creds
	wrong.SecretAccessKey = "not-the-secret"
	load := e.LoadConfig
	e.LoadConfig = func(ctx context.Context, region string) (aws.Config, error) {
		cfg, err := load(ctx, region)
		cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return wrong, nil })
		return cfg, err
	}
	c, err := e.clients(context.Background(), fakeRegion)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if err == nil || len(f.badSigs) != 1 {
		t.Errorf("a request signed with the wrong secret was accepted: %v %v", err, f.badSigs)
	}
}
