package pki

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCorruptOrForeignFilesAreNamedInTheError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(t *testing.T, dir string)
		want  error
		file  string // the path the error must name, relative to the state directory
		words string
	}{
		{
			name: "garbage in a cluster certificate",
			edit: func(t *testing.T, dir string) { write(t, dir, "pki/admin.pem", "hello\n") },
			want: ErrCorrupt, file: "pki/admin.pem", words: "no PEM data",
		},
		{
			name: "a cluster key that is not a key",
			edit: func(t *testing.T, dir string) {
				write(t, dir, "pki/kube-proxy-key.pem", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
			},
			want: ErrCorrupt, file: "pki/kube-proxy-key.pem", words: "not a PEM private key",
		},
		{
			name: "a node file with a damaged block",
			edit: func(t *testing.T, dir string) {
				data, _ := os.ReadFile(filepath.Join(dir, "nodes/worker1.pem"))
				write(t, dir, "nodes/worker1.pem", strings.Replace(string(data), "-----END CERTIFICATE-----", "-----END CERTIFICATE", 1))
			},
			want: ErrCorrupt, file: "nodes/worker1.pem", words: "",
		},
		{
			name: "a node file block without its name line",
			edit: func(t *testing.T, dir string) {
				data, _ := os.ReadFile(filepath.Join(dir, "nodes/worker1.pem"))
				write(t, dir, "nodes/worker1.pem", strings.Replace(string(data), "# kubelet-worker1\n", "", 1))
			},
			want: ErrCorrupt, file: "nodes/worker1.pem", words: "no \"# NAME\" line",
		},
		{
			name: "a corrupt CA key",
			edit: func(t *testing.T, dir string) {
				write(t, dir, "pki/etcd-ca-key.pem", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
			},
			want: ErrCorrupt, file: "pki/etcd-ca-key.pem", words: "",
		},
		{
			name: "an empty CA key is never replaced",
			edit: func(t *testing.T, dir string) { write(t, dir, "pki/ca-key.pem", "") },
			want: ErrCorrupt, file: "pki/ca-key.pem", words: "restore the CA from a backup",
		},
		{
			name: "a note left in pki/",
			edit: func(t *testing.T, dir string) { write(t, dir, "pki/README.txt", "my notes") },
			want: ErrForeign, file: "pki/README.txt", words: "move it out of the state directory",
		},
		{
			name: "a directory kisgen does not use in pki/",
			edit: func(t *testing.T, dir string) { os.Mkdir(filepath.Join(dir, "pki/backup"), 0o700) },
			want: ErrForeign, file: "pki/backup", words: "directory kisgen does not use",
		},
		{
			name: "a stray private key named like a certificate",
			edit: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(dir, "pki/admin-key.pem"), filepath.Join(dir, "pki/other.pem"))
			},
			want: ErrForeign, file: "pki/other.pem", words: "not named NAME-key.pem",
		},
		{
			name: "a CSR in pki/",
			edit: func(t *testing.T, dir string) {
				write(t, dir, "pki/admin.csr.pem", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
			},
			want: ErrForeign, file: "pki/admin.csr.pem", words: "not a certificate or private key",
		},
		{
			name: "a YAML file in kubeconfig/",
			edit: func(t *testing.T, dir string) { write(t, dir, "kubeconfig/admin.yaml", "x: 1") },
			want: ErrForeign, file: "kubeconfig/admin.yaml", words: "kubeconfig files",
		},
		{
			name: "a private key in ssh/",
			edit: func(t *testing.T, dir string) { write(t, dir, "ssh/id_ed25519", "x") },
			want: ErrForeign, file: "ssh/id_ed25519", words: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := examplePlan(t, "minimal.yaml")
			mustEnsure(t, p, dir, Options{})
			tc.edit(t, dir)
			for _, op := range []string{"Ensure", "Load"} {
				var err error
				if op == "Ensure" {
					_, _, err = Ensure(p, dir, Options{})
				} else {
					_, err = Load(dir)
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", op, err, tc.want)
				}
				if !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) || !strings.Contains(err.Error(), tc.words) {
					t.Errorf("%s: error %q does not name %s and say %q", op, err, tc.file, tc.words)
				}
			}
		})
	}
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIncompleteFilesFromAnInterruptedRunAreRepaired(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, dir string)
		want   []string
		reason string
	}{
		{
			name:   "an empty cluster certificate (a crash before the final sync)",
			edit:   func(t *testing.T, dir string) { write(t, dir, "pki/admin.pem", "") },
			want:   []string{"admin:reissued", "kubeconfig/admin:reissued"},
			reason: "empty file left by an interrupted run",
		},
		{
			name:   "an empty node file",
			edit:   func(t *testing.T, dir string) { write(t, dir, "nodes/worker1.pem", "") },
			want:   []string{"kubelet-serving-worker1:reissued", "kubelet-worker1:reissued", "ssh/worker1:reissued"},
			reason: "empty file left by an interrupted run",
		},
		{
			name: "a cluster key from another run than its certificate",
			edit: func(t *testing.T, dir string) {
				copyFile(t, filepath.Join(dir, "pki/kube-proxy-key.pem"), filepath.Join(dir, "pki/kube-scheduler-key.pem"))
			},
			want:   []string{"kube-scheduler:reissued", "kubeconfig/kube-scheduler:reissued"},
			reason: "key does not match the certificate",
		},
		{
			name:   "a missing cluster key",
			edit:   func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "pki/calico-cni-key.pem")) },
			want:   []string{"calico-cni:reissued", "kubeconfig/calico-cni:reissued"},
			reason: "key missing",
		},
		{
			name: "leftover temporary files",
			edit: func(t *testing.T, dir string) {
				write(t, dir, "pki/.admin.pem.tmp-123", "half")
				write(t, dir, "nodes/.worker1.pem.tmp-9", "")
			},
			want:   nil,
			reason: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := examplePlan(t, "minimal.yaml")
			mustEnsure(t, p, dir, Options{})
			cas := caFiles(t, dir)
			tc.edit(t, dir)
			b, changes := mustEnsure(t, p, dir, Options{})
			if got := changedNames(changes); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("changes %v, want %v", got, tc.want)
			}
			for _, c := range changes {
				if !strings.HasPrefix(c.Name, "kubeconfig/") && !strings.Contains(c.Reason, tc.reason) {
					t.Errorf("%s: reason %q, want %q", c.Name, c.Reason, tc.reason)
				}
			}
			if diff := caFiles(t, dir); len(diff) != len(cas) {
				t.Fatal("CA files lost")
			}
			for k, v := range caFiles(t, dir) {
				if cas[k] != v {
					t.Errorf("%s changed", k)
				}
			}
			verifyAll(t, p, b, time.Now())
			for path := range snapshot(t, dir) {
				if isTemp(filepath.Base(path)) {
					t.Errorf("temporary file %s left behind", path)
				}
			}
			if _, err := Load(dir); err != nil {
				t.Errorf("Load after the repair: %v", err)
			}
		})
	}
}

func TestACAKeyWithoutItsCertificateGetsOneForTheSameKey(t *testing.T) {
	dir := t.TempDir()
	p := examplePlan(t, "minimal.yaml")
	mustEnsure(t, p, dir, Options{})
	key, _ := os.ReadFile(filepath.Join(dir, "pki/ca-key.pem"))
	os.Remove(filepath.Join(dir, "pki/ca.pem"))
	b, changes := mustEnsure(t, p, dir, Options{})
	if r := reasonOf(changes, CA); !strings.Contains(r, "for the existing key") {
		t.Errorf("ca: reason %q, want a certificate for the existing key", r)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "pki/ca-key.pem"))
	if string(after) != string(key) {
		t.Error("the CA key was replaced")
	}
	ca, _ := b.Get(CA)
	k, _ := parseKeyPEM(key)
	if !keyMatches(k, ca.Cert.PublicKey) {
		t.Error("the new CA certificate is not for the existing key")
	}
	verifyAll(t, p, b, time.Now())
}
