package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/plan"
)

// newTestAuthority makes the CA of spec s for plan p, as Ensure does for a new state.
func newTestAuthority(t testing.TB, p *plan.Plan, s *spec, now time.Time) *authority {
	t.Helper()
	certPEM, keyPEM, err := newCA(p, s, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &authority{name: s.name, cert: cert, certPEM: certPEM, key: key, keyPEM: keyPEM}
}

// mustEnsure runs Ensure and fails the test on error.
func mustEnsure(t testing.TB, pl *plan.Plan, dir string, opts Options) (*Bundle, []Change) {
	t.Helper()
	b, ch, err := Ensure(pl, dir, opts)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return b, ch
}

// snapshot maps every file under dir (relative path) to its content hash, mode and
// modification time, to prove that a run changed nothing.
func snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = info.Mode().String()
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[rel] = hex.EncodeToString(sum[:8]) + " " + info.Mode().String() + " " + info.ModTime().Format(time.RFC3339Nano)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// changedNames returns the sorted names of changes, "name:action".
func changedNames(changes []Change) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.Name+":"+c.Action)
	}
	sort.Strings(out)
	return out
}

// reasonOf returns the reason recorded for name, or "".
func reasonOf(changes []Change, name string) string {
	for _, c := range changes {
		if c.Name == name {
			return c.Reason
		}
	}
	return ""
}

// pool makes a cert pool of the PEM certificates in pemData.
func pool(t testing.TB, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificates in CA bundle")
	}
	return p
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
