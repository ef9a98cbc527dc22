package plan

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/report"
)

// writeKey writes an unencrypted ed25519 private key in OpenSSH format, as ssh-keygen does.
func writeKey(t *testing.T, path string, passphrase string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyExample copies an example plan into a fresh directory with its SSH key.
func copyExample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	writeKey(t, filepath.Join(dir, DefaultSSHKey), "")
	return path
}

// TestExamplesAreValid loads every plan under examples/ as a user would, with its key.
func TestExamplesAreValid(t *testing.T) {
	warnings := map[string][]string{
		"minimal.yaml":        {"etcd.nodes", "master.nodes"},
		"ha.yaml":             nil,
		"kismatic-v1.12.yaml": {"etcd.nodes", "master.load_balanced_fqdn", "master.nodes"},
		"pxe-cluster.yaml":    {"mirror.checksums", "etcd.nodes", "master.nodes"},
	}
	files, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if len(files) < 3 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := warnings[name]
			if !ok {
				t.Fatalf("new example %s: list its expected warnings in this test", name)
			}
			p, rep, err := Load(copyExample(t, name))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				if f.Severity == report.Error {
					t.Errorf("error: %s", f)
				}
				got = append(got, f.Path)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if p == nil || len(p.NodesWith(RoleEtcd)) == 0 || len(p.NodesWith(RoleMaster)) == 0 || len(p.NodesWith(RoleWorker)) == 0 {
				t.Fatal("the example lacks a role")
			}
		})
	}
}

func TestFilesThePlanNames(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		plan  string // added under cluster: or at the end
		want  []want
	}{
		{"an unencrypted key is accepted", func(t *testing.T, dir string) { writeKey(t, filepath.Join(dir, "kismaticuser.key"), "") }, "", nil},
		{"a missing key says how to create one", func(t *testing.T, dir string) {}, "", []want{
			{report.Error, "cluster.ssh.ssh_key", 4, 3, "cannot read the SSH key: openat kismaticuser.key: no such file or directory",
				"create it: ssh-keygen -t ed25519 -N '' -f DIR/kismaticuser.key (or run `kisgen plan`, which creates it)"}}},
		{"an encrypted key is refused", func(t *testing.T, dir string) { writeKey(t, filepath.Join(dir, "kismaticuser.key"), "secret") }, "", []want{
			{report.Error, "cluster.ssh.ssh_key", 4, 3, "the SSH key kismaticuser.key is encrypted", ""}}},
		{"a public key is not a private key", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "id.pub"), []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test\n"), 0o644)
		}, "  ssh: {ssh_key: id.pub}\n", []want{
			{report.Error, "cluster.ssh.ssh_key", 5, 18, "id.pub is not a private key: ssh: no key found", ""}}},
		{"a key outside the plan directory is refused unless absolute", func(t *testing.T, dir string) {}, "  ssh: {ssh_key: ../../etc/key}\n", []want{
			{report.Error, "cluster.ssh.ssh_key", 5, 18, "cannot read the SSH key: openat ../../etc/key: path escapes from parent", ""}}},
		{"a checksums file is read and checked", func(t *testing.T, dir string) {
			writeKey(t, filepath.Join(dir, "kismaticuser.key"), "")
			os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sha+"  dl.k8s.io/kubelet\n"), 0o644)
		}, "mirror: {url: 'https://mirror.example.com', checksums: SHA256SUMS}\n", nil},
		{"a malformed checksums file is refused", func(t *testing.T, dir string) {
			writeKey(t, filepath.Join(dir, "kismaticuser.key"), "")
			os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte("# sums\nnot a sum\n"), 0o644)
		}, "mirror: {url: 'https://mirror.example.com', checksums: SHA256SUMS}\n", []want{
			{report.Error, "mirror.checksums", 17, 56, "checksums file SHA256SUMS: line 2 is not \"<sha256>  <path>\"", ""}}},
		{"a missing checksums file is refused", func(t *testing.T, dir string) { writeKey(t, filepath.Join(dir, "kismaticuser.key"), "") },
			"mirror: {url: 'https://mirror.example.com', checksums: SUMS}\n", []want{
				{report.Error, "mirror.checksums", 17, 56, "no checksums file yet: SUMS", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			data := string(readValid(t))
			if strings.HasPrefix(tt.plan, "  ") {
				data = strings.Replace(data, "  name: test\n", "  name: test\n"+tt.plan, 1)
			} else {
				data += tt.plan
			}
			path := filepath.Join(dir, "kismatic-cluster.yaml")
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, rep, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			// DIR in a hint is the plan's directory: hints name paths as kisgen resolves them.
			got := findingsOf(rep, tt.want)
			for i := range got {
				got[i].Hint = strings.ReplaceAll(got[i].Hint, dir+string(filepath.Separator), "DIR/")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseChecksums(t *testing.T) {
	sha := strings.Repeat("0f", 32)
	got, err := ParseChecksums([]byte("# comment\n\n" + sha + "  a/b\n" + strings.ToUpper(sha) + " *c\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a/b": sha, "c": sha}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"abc  x\n", sha + "\n", sha + "  a b\n", strings.Repeat("zz", 32) + "  x\n"} {
		if _, err := ParseChecksums([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
