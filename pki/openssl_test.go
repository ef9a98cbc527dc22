package pki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenSSLVerifiesEveryChain checks every leaf with a second X.509 implementation:
// `openssl verify -x509_strict` against its CA for its purpose, and that each key is
// the certificate's.
func TestOpenSSLVerifiesEveryChain(t *testing.T) {
	p := examplePlan(t, "ha.yaml")
	dir := t.TempDir()
	b, _ := mustEnsure(t, p, dir, Options{})
	work := t.TempDir()
	for _, ca := range []string{CA, EtcdCA, FrontProxyCA} {
		pair, _ := b.Get(ca)
		writeFile(t, work, ca+".pem", pair.CertPEM)
	}
	specs, err := leafSpecs(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			pair, _ := b.Get(s.name)
			writeFile(t, work, s.name+".pem", pair.CertPEM)
			writeFile(t, work, s.name+"-key.pem", pair.KeyPEM)
			purposes := map[kind][]string{kindServer: {"sslserver"}, kindClient: {"sslclient"}, kindPeer: {"sslserver", "sslclient"}}[s.kind]
			for _, purpose := range purposes {
				out := openssl(t, work, "verify", "-x509_strict", "-CAfile", s.issuer+".pem", "-purpose", purpose, s.name+".pem")
				if strings.TrimSpace(out) != s.name+".pem: OK" {
					t.Errorf("openssl verify -purpose %s: %s", purpose, out)
				}
			}
			// The wrong purpose must fail: a client certificate is no server's.
			if s.kind == kindClient {
				assertOpenSSLFails(t, work, "verify", "-x509_strict", "-CAfile", s.issuer+".pem", "-purpose", "sslserver", s.name+".pem")
			}
			if s.kind == kindServer {
				assertOpenSSLFails(t, work, "verify", "-x509_strict", "-CAfile", s.issuer+".pem", "-purpose", "sslclient", s.name+".pem")
			}
			certPub := openssl(t, work, "x509", "-in", s.name+".pem", "-noout", "-pubkey")
			keyPub := openssl(t, work, "pkey", "-in", s.name+"-key.pem", "-pubout")
			if certPub != keyPub {
				t.Errorf("openssl: the key's public half is not the certificate's")
			}
		})
	}
	t.Run("a node file is readable by openssl", func(t *testing.T) {
		out := openssl(t, filepath.Join(dir, nodesDir), "x509", "-in", "master1.pem", "-noout", "-subject")
		if !strings.Contains(out, "CN = kube-apiserver") {
			t.Errorf("openssl x509 on a node file: %s", out)
		}
	})
	t.Run("a rotation trust bundle holds both CAs for openssl", func(t *testing.T) {
		if _, err := StartCARotation(p, dir, CA, Options{}); err != nil {
			t.Fatal(err)
		}
		if err := PromoteCA(dir, CA, Options{}); err != nil {
			t.Fatal(err)
		}
		b2, _ := mustEnsure(t, p, dir, Options{})
		trust, _ := b2.Get(CA)
		writeFile(t, work, "bundle.pem", trust.CertPEM)
		newAdmin, _ := b2.Get(Admin)
		writeFile(t, work, "new-admin.pem", newAdmin.CertPEM)
		for _, f := range []string{"admin.pem", "new-admin.pem"} {
			if out := openssl(t, work, "verify", "-CAfile", "bundle.pem", "-purpose", "sslclient", f); !strings.Contains(out, ": OK") {
				t.Errorf("%s against the rotation bundle: %s", f, out)
			}
		}
		assertOpenSSLFails(t, work, "verify", "-CAfile", "ca.pem", "-purpose", "sslclient", "new-admin.pem")
	})
}

func writeFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func assertOpenSSLFails(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := opensslCmd(t, dir, args...)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("openssl %s succeeded, want a failure:\n%s", strings.Join(args, " "), out)
	}
}
