package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"

	"github.com/kisgen/kisgen/plan"
)

func TestSigningPolicyIsValid(t *testing.T) {
	if !signingPolicy.Valid() {
		t.Fatal("cfssl rejects kisgen's signing policy")
	}
}

// TestLeafMatchesCfsslSigner issues every leaf of a plan twice for the same key: once as
// cfssl's local signer does (a CSR made with the key, then Sign with the profile), once
// with signLeaf. Everything but the serial number and the signature value must be equal:
// subject bytes, issuer, validity, algorithm, SANs, and every extension's value and
// criticality, in order.
func TestLeafMatchesCfsslSigner(t *testing.T) {
	for _, alg := range []plan.KeyAlgorithm{plan.ECDSAP256, plan.RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			p := parsePlan(t, "allinone.yaml", allInOnePlan("key_algorithm: "+string(alg),
				"location: {country: DE, state: Berlin, city: Berlin}"))
			now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
			cas := map[string]*authority{}
			signers := map[string]*local.Signer{}
			for _, cs := range caSpecs(p) {
				ca := newTestAuthority(t, p, cs, now)
				cas[cs.name] = ca
				var err error
				if signers[cs.name], err = local.NewSigner(ca.key, ca.cert, signer.DefaultSigAlgo(ca.key), signingPolicy); err != nil {
					t.Fatal(err)
				}
			}
			kr, _ := keyRequest(alg)
			specs, err := leafSpecs(p)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[kind]bool{}
			for _, s := range specs {
				kinds[s.kind] = true
				priv, err := kr.Generate()
				if err != nil {
					t.Fatal(err)
				}
				key := priv.(crypto.Signer)
				csrPEM, err := csr.Generate(key, &csr.CertificateRequest{CN: s.cn, Names: subject(p.Certificates, s.org, ""), Hosts: s.hosts()})
				if err != nil {
					t.Fatal(err)
				}
				nb := now.Add(-backdate).UTC().Truncate(time.Second)
				wantPEM, err := signers[s.issuer].Sign(signer.SignRequest{Request: string(csrPEM), Hosts: s.hosts(),
					Profile: profileName(s.kind, kr.A == "rsa"), NotBefore: nb, NotAfter: nb.Add(backdate + p.Certificates.Expiry)})
				if err != nil {
					t.Fatal(err)
				}
				gotPEM, err := signLeaf(p, s, cas[s.issuer], key.Public(), now)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := parseCertPEM(wantPEM)
				got, err := parseCertPEM(gotPEM)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				sameLeaf(t, s.name, got, want)
			}
			if len(kinds) < 3 {
				t.Errorf("the plan's leaves cover %d kinds, want server, client and peer", len(kinds))
			}
		})
	}
}

func sameLeaf(t *testing.T, name string, got, want *x509.Certificate) {
	t.Helper()
	check := func(field string, equal bool) {
		if !equal {
			t.Errorf("%s: %s differs from cfssl's", name, field)
		}
	}
	check("subject", bytes.Equal(got.RawSubject, want.RawSubject))
	check("issuer", bytes.Equal(got.RawIssuer, want.RawIssuer))
	check("validity", got.NotBefore.Equal(want.NotBefore) && got.NotAfter.Equal(want.NotAfter))
	check("signature algorithm", got.SignatureAlgorithm == want.SignatureAlgorithm)
	check("public key", bytes.Equal(got.RawSubjectPublicKeyInfo, want.RawSubjectPublicKeyInfo))
	check("version", got.Version == want.Version)
	check("DNS names", slices.Equal(got.DNSNames, want.DNSNames))
	check("IP addresses", slices.EqualFunc(got.IPAddresses, want.IPAddresses, net.IP.Equal))
	check("extensions", slices.EqualFunc(got.Extensions, want.Extensions, func(a, b pkix.Extension) bool {
		return a.Id.Equal(b.Id) && a.Critical == b.Critical && bytes.Equal(a.Value, b.Value)
	}))
	if n := len(got.SerialNumber.Bytes()); got.SerialNumber.Sign() <= 0 || n > 20 || n < 16 {
		t.Errorf("%s: serial number %d bytes (sign %d), want a positive 20-octet random number", name, n, got.SerialNumber.Sign())
	}
	if bytes.Equal(got.SerialNumber.Bytes(), want.SerialNumber.Bytes()) {
		t.Errorf("%s: both certificates have serial %x", name, got.SerialNumber)
	}
}
