package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func verifies(c *x509.Certificate, bundle []byte, usage []x509.ExtKeyUsage) bool {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundle)
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: usage})
	return err == nil
}

func TestCARotationNeverLeavesAComponentUntrusted(t *testing.T) {
	dir := t.TempDir()
	p := examplePlan(t, "ha.yaml")
	b0, _ := mustEnsure(t, p, dir, Options{})
	oldKey, _ := os.ReadFile(filepath.Join(dir, "pki/ca-key.pem"))
	oldAdmin, _ := b0.Get(Admin)
	oldEtcd, _ := b0.Get(EtcdServer("etcd1"))

	// Step 1: the incoming CA is trusted, signs nothing.
	if _, err := StartCARotation(p, dir, CA, Options{}); err != nil {
		t.Fatal(err)
	}
	if step, _ := CARotationStatus(dir, CA); step != RotationStarted {
		t.Errorf("status %s, want %s", step, RotationStarted)
	}
	b1, changes := mustEnsure(t, p, dir, Options{})
	for _, c := range changes {
		if !strings.HasPrefix(c.Name, "kubeconfig/") {
			t.Errorf("step 1 reissued %s; only kubeconfigs (CA bundle) may change", c)
		}
	}
	trust1, _ := b1.Get(CA)
	if n := strings.Count(string(trust1.CertPEM), "BEGIN CERTIFICATE"); n != 2 {
		t.Fatalf("step 1 trust bundle holds %d certificates, want 2", n)
	}
	if !verifies(oldAdmin.Cert, trust1.CertPEM, clientUse) {
		t.Error("step 1 bundle rejects the current admin certificate")
	}
	kc, _ := b1.Kubeconfig(Admin)
	k, _ := ParseKubeconfig(kc)
	if ca, _, _, _ := k.Decoded(); string(ca) != string(trust1.CertPEM) {
		t.Error("admin kubeconfig does not carry the step 1 trust bundle")
	}

	// Step 2: the incoming CA signs; every leaf of the cluster CA is reissued.
	if err := PromoteCA(dir, CA, Options{}); err != nil {
		t.Fatal(err)
	}
	b2, changes := mustEnsure(t, p, dir, Options{})
	specs, _ := leafSpecs(p)
	reissued := map[string]bool{}
	for _, c := range changes {
		reissued[c.Name] = true
		if !strings.HasPrefix(c.Name, "kubeconfig/") && !strings.Contains(c.Reason, "rotated") {
			t.Errorf("%s: reason %q, want it to say the CA was rotated", c.Name, c.Reason)
		}
	}
	for _, s := range specs {
		if reissued[s.name] != (s.issuer == CA) {
			t.Errorf("%s (issuer %s): reissued %v", s.name, s.issuer, reissued[s.name])
		}
	}
	trust2, _ := b2.Get(CA)
	newAdmin, _ := b2.Get(Admin)
	if !verifies(newAdmin.Cert, trust1.CertPEM, clientUse) {
		t.Error("nodes still on the step 1 bundle would reject the new admin certificate")
	}
	if !verifies(oldAdmin.Cert, trust2.CertPEM, clientUse) {
		t.Error("the step 2 bundle rejects certificates nodes still present from before")
	}
	if verifies(newAdmin.Cert, b0.pairs[CA].CertPEM, clientUse) {
		t.Error("the new admin certificate verifies against the old CA alone")
	}
	if etcd, _ := b2.Get(EtcdServer("etcd1")); string(etcd.CertPEM) != string(oldEtcd.CertPEM) {
		t.Error("rotating the cluster CA reissued an etcd certificate")
	}
	retired, _ := filepath.Glob(filepath.Join(dir, "pki/retired/ca-*-key.pem"))
	if len(retired) != 1 {
		t.Fatalf("retired keys %v, want one", retired)
	}
	if got, _ := os.ReadFile(retired[0]); string(got) != string(oldKey) {
		t.Error("the archived key is not the outgoing CA key")
	}
	verifyAll(t, p, b2, time.Now())

	// Step 3: the outgoing CA is no longer trusted.
	if err := FinishCARotation(dir, CA, Options{}); err != nil {
		t.Fatal(err)
	}
	b3, _ := mustEnsure(t, p, dir, Options{})
	trust3, _ := b3.Get(CA)
	if strings.Count(string(trust3.CertPEM), "BEGIN CERTIFICATE") != 1 || verifies(oldAdmin.Cert, trust3.CertPEM, clientUse) {
		t.Error("after --finish the old CA is still trusted")
	}
	if step, _ := CARotationStatus(dir, CA); step != RotationNone {
		t.Errorf("status %s after finish", step)
	}
	if _, err := os.Stat(retired[0]); err != nil {
		t.Error("finishing removed the archived key")
	}
	if _, changes := mustEnsure(t, p, dir, Options{}); len(changes) != 0 {
		t.Errorf("a run after the rotation changed %v", changedNames(changes))
	}
}

func TestAnInterruptedPromotionIsDetectedAndResumed(t *testing.T) {
	dir := t.TempDir()
	p := examplePlan(t, "minimal.yaml")
	mustEnsure(t, p, dir, Options{})
	if _, err := StartCARotation(p, dir, EtcdCA, Options{}); err != nil {
		t.Fatal(err)
	}
	oldKey, _ := os.ReadFile(filepath.Join(dir, "pki/etcd-ca-key.pem"))
	// Do what PromoteCA does up to the point where it moved the key, then stop.
	cert, _ := readCert(filepath.Join(dir, "pki/etcd-ca.pem"))
	os.MkdirAll(filepath.Join(dir, "pki/retired"), 0o700)
	os.MkdirAll(filepath.Join(dir, "pki/previous"), 0o700)
	tag := fingerprint(cert.Raw)
	write(t, dir, "pki/retired/etcd-ca-"+tag+".pem", string(encodeCert(cert)))
	write(t, dir, "pki/retired/etcd-ca-"+tag+"-key.pem", string(oldKey))
	write(t, dir, "pki/previous/etcd-ca.pem", string(encodeCert(cert)))
	if err := os.Rename(filepath.Join(dir, "pki/next/etcd-ca-key.pem"), filepath.Join(dir, "pki/etcd-ca-key.pem")); err != nil {
		t.Fatal(err)
	}

	_, _, err := Ensure(p, dir, Options{})
	if !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "--promote") {
		t.Fatalf("Ensure after an interrupted promotion: %v, want ErrRotation telling to run --promote again", err)
	}
	if err := PromoteCA(dir, EtcdCA, Options{}); err != nil {
		t.Fatalf("resuming the promotion: %v", err)
	}
	b, _ := mustEnsure(t, p, dir, Options{})
	verifyAll(t, p, b, time.Now())
	if step, _ := CARotationStatus(dir, EtcdCA); step != RotationPromoted {
		t.Errorf("status %s, want promoted", step)
	}
}

func TestAbortDropsTheIncomingCA(t *testing.T) {
	dir := t.TempDir()
	p := examplePlan(t, "minimal.yaml")
	b0, _ := mustEnsure(t, p, dir, Options{})
	if _, err := StartCARotation(p, dir, FrontProxyCA, Options{}); err != nil {
		t.Fatal(err)
	}
	mustEnsure(t, p, dir, Options{})
	if err := AbortCARotation(dir, FrontProxyCA, Options{}); err != nil {
		t.Fatal(err)
	}
	b, _ := mustEnsure(t, p, dir, Options{})
	a, _ := b0.Get(FrontProxyCA)
	c, _ := b.Get(FrontProxyCA)
	if string(a.CertPEM) != string(c.CertPEM) {
		t.Error("after --abort the trust bundle is not the original CA alone")
	}
	if got, _ := filepath.Glob(filepath.Join(dir, "pki/retired/front-proxy-ca-aborted-*-key.pem")); len(got) != 1 {
		t.Errorf("aborted key not archived: %v", got)
	}
}

func TestRotationStepsOutOfOrderAreRefused(t *testing.T) {
	dir := t.TempDir()
	p := examplePlan(t, "minimal.yaml")
	if _, err := StartCARotation(p, dir, CA, Options{}); !errors.Is(err, ErrRotation) {
		t.Errorf("start before any PKI: %v", err)
	}
	mustEnsure(t, p, dir, Options{})
	for name, err := range map[string]error{
		"promote before start":  PromoteCA(dir, CA, Options{}),
		"finish before start":   FinishCARotation(dir, CA, Options{}),
		"abort before start":    AbortCARotation(dir, CA, Options{}),
		"rotate a leaf as a CA": func() error { _, err := StartCARotation(p, dir, Admin, Options{}); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := StartCARotation(p, dir, CA, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := StartCARotation(p, dir, CA, Options{}); !errors.Is(err, ErrRotation) {
		t.Errorf("second start: %v", err)
	}
	if err := FinishCARotation(dir, CA, Options{}); !errors.Is(err, ErrRotation) {
		t.Errorf("finish before promote: %v", err)
	}
	if err := PromoteCA(dir, CA, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := StartCARotation(p, dir, CA, Options{}); !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "--finish") {
		t.Errorf("start before finishing the previous rotation: %v", err)
	}
}
