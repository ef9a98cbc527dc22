package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
)

// openssl runs the openssl command line (Debian's openssl package) in dir.
func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := opensslCmd(t, dir, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func opensslCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	path := testtool.Require(t, "openssl", "openssl")
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	return cmd
}

// opensslCA makes a CA with openssl req in dir/pki as NAME.pem and NAME-key.pem.
func opensslCA(t *testing.T, stateDir, name, cn string, extra ...string) {
	t.Helper()
	pkiPath := filepath.Join(stateDir, pkiDir)
	if err := os.MkdirAll(pkiPath, 0o700); err != nil {
		t.Fatal(err)
	}
	args := []string{"req", "-x509", "-nodes", "-days", "3650", "-subj", "/O=Example Corp/CN=" + cn,
		"-keyout", name + keySuffix, "-out", name + certSuffix}
	args = append(args, extra...)
	openssl(t, pkiPath, args...)
}

func TestBringYourOwnCA(t *testing.T) {
	ecCA := []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"}
	rsaCA := []string{"-newkey", "rsa:2048",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"}
	for _, tc := range []struct {
		name string
		ca   string
		args []string
	}{
		{"openssl ECDSA cluster CA (PKCS#8 key)", CA, ecCA},
		{"openssl RSA cluster CA", CA, rsaCA},
		{"openssl etcd CA", EtcdCA, ecCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opensslCA(t, dir, tc.ca, "corp-root", tc.args...)
			before := caFilesOf(t, dir, tc.ca)
			p := examplePlan(t, "minimal.yaml")
			b, changes := mustEnsure(t, p, dir, Options{})
			for _, c := range changes {
				if c.Name == tc.ca {
					t.Errorf("the brought CA was changed: %s", c)
				}
			}
			if after := caFilesOf(t, dir, tc.ca); after != before {
				t.Errorf("the brought CA files changed")
			}
			pair, _ := b.Get(tc.ca)
			if pair.Cert.Subject.CommonName != "corp-root" {
				t.Errorf("bundle CA is %q, want the brought corp-root", pair.Cert.Subject.CommonName)
			}
			verifyAll(t, p, b, time.Now())
		})
	}
}

func caFilesOf(t *testing.T, dir, name string) string {
	c, err := os.ReadFile(certFile(filepath.Join(dir, pkiDir), name))
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(keyFile(filepath.Join(dir, pkiDir), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(c) + string(k)
}

func TestBroughtCAsThatCannotSignAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
		words []string
	}{
		{
			name: "a leaf certificate instead of a CA",
			setup: func(t *testing.T, dir string) {
				opensslCA(t, dir, CA, "not-a-ca", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "basicConstraints=critical,CA:FALSE")
			},
			want:  ErrNotCA,
			words: []string{"pki/ca.pem", "not a CA certificate"},
		},
		{
			name: "a CA without the certificate-signing key usage",
			setup: func(t *testing.T, dir string) {
				opensslCA(t, dir, EtcdCA, "no-sign", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
					"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,digitalSignature")
			},
			want:  ErrNotCA,
			words: []string{"pki/etcd-ca.pem", "certificate-signing key usage"},
		},
		{
			name: "a key that belongs to another CA",
			setup: func(t *testing.T, dir string) {
				opensslCA(t, dir, CA, "one", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "basicConstraints=critical,CA:TRUE")
				other := t.TempDir()
				opensslCA(t, other, CA, "two", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "basicConstraints=critical,CA:TRUE")
				copyFile(t, keyFile(filepath.Join(other, pkiDir), CA), keyFile(filepath.Join(dir, pkiDir), CA))
			},
			want:  ErrKeyMismatch,
			words: []string{"pki/ca-key.pem", "is not the key of", "pki/ca.pem"},
		},
		{
			name: "a CA certificate without its key",
			setup: func(t *testing.T, dir string) {
				opensslCA(t, dir, FrontProxyCA, "fp", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "basicConstraints=critical,CA:TRUE")
				os.Remove(keyFile(filepath.Join(dir, pkiDir), FrontProxyCA))
			},
			want:  ErrMissingKey,
			words: []string{"pki/front-proxy-ca-key.pem", "place it beside"},
		},
		{
			name: "an expired CA",
			setup: func(t *testing.T, dir string) {
				// openssl 3.0's req cannot backdate: make this one with Go.
				key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old"}, IsCA: true, BasicConstraintsValid: true,
					KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
				if err != nil {
					t.Fatal(err)
				}
				kder, _ := x509.MarshalECPrivateKey(key)
				os.MkdirAll(filepath.Join(dir, pkiDir), 0o700)
				os.WriteFile(certFile(filepath.Join(dir, pkiDir), CA), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
				os.WriteFile(keyFile(filepath.Join(dir, pkiDir), CA), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
			},
			want:  ErrNotCA,
			words: []string{"pki/ca.pem", "expired on 2021-01-01", "kisgen certs rotate --ca"},
		},
		{
			name: "a CA placed at the top of the state directory",
			setup: func(t *testing.T, dir string) {
				opensslCA(t, dir, CA, "top", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "basicConstraints=critical,CA:TRUE")
				os.Rename(certFile(filepath.Join(dir, pkiDir), CA), filepath.Join(dir, "ca.pem"))
			},
			want:  ErrForeign,
			words: []string{"ca.pem", "belongs in", "pki"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			before := snapshot(t, dir)
			_, _, err := Ensure(examplePlan(t, "minimal.yaml"), dir, Options{})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for path, v := range before {
				if after := snapshot(t, dir)[path]; after != v && path[len(path)-1] != '/' {
					t.Errorf("%s changed although Ensure failed", path)
				}
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
