package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"
	"github.com/cloudflare/cfssl/initca"
	cflog "github.com/cloudflare/cfssl/log"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"

	"github.com/kisgen/kisgen/plan"
)

func init() {
	// cfssl logs every key, CSR and signature at info level on stderr: thousands of lines
	// for a large plan. kisgen reports what it did itself and gets errors as values.
	cflog.Level = cflog.LevelFatal
}

// backdate is how far before "now" certificates start to be valid, so that a node whose
// clock lags at first boot (before NTP) still accepts them.
const backdate = time.Hour

// keyRequest is the cfssl key request for a plan key algorithm.
func keyRequest(alg plan.KeyAlgorithm) (*csr.KeyRequest, error) {
	switch alg {
	case plan.ECDSAP256, "":
		return &csr.KeyRequest{A: "ecdsa", S: 256}, nil
	case plan.RSA2048:
		return &csr.KeyRequest{A: "rsa", S: 2048}, nil
	case plan.RSA3072:
		return &csr.KeyRequest{A: "rsa", S: 3072}, nil
	case plan.RSA4096:
		return &csr.KeyRequest{A: "rsa", S: 4096}, nil
	}
	return nil, fmt.Errorf("unknown key algorithm %q (use ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096)", alg)
}

// keyAlgorithm names a public key's algorithm the way plans do; keys kisgen does not
// generate get a descriptive name that never equals a plan value.
func keyAlgorithm(pub crypto.PublicKey) plan.KeyAlgorithm {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return plan.ECDSAP256
		}
		return plan.KeyAlgorithm("ecdsa-" + k.Curve.Params().Name)
	case *rsa.PublicKey:
		return plan.KeyAlgorithm(fmt.Sprintf("rsa-%d", k.N.BitLen()))
	}
	return plan.KeyAlgorithm(fmt.Sprintf("%T", pub))
}

// usages are the cfssl usage names for each kind of leaf. RSA keys also get key
// encipherment (RSA key exchange); for ECDSA keys it has no meaning and is left out.
func usages(k kind, rsaKey bool) []string {
	u := []string{"digital signature"}
	if rsaKey {
		u = append(u, "key encipherment")
	}
	switch k {
	case kindServer:
		u = append(u, "server auth")
	case kindClient:
		u = append(u, "client auth")
	case kindPeer:
		u = append(u, "server auth", "client auth")
	}
	return u
}

// profileName is the cfssl signing profile for a leaf kind and key type.
func profileName(k kind, rsaKey bool) string {
	if rsaKey {
		return k.String() + "-rsa"
	}
	return k.String() + "-ecdsa"
}

// signingPolicy is the cfssl signing policy of kisgen's CAs: one profile per leaf kind
// and key type. Validity comes from each leaf's NotBefore/NotAfter, so Expiry here only
// satisfies cfssl's policy validation (TestSigningPolicyIsValid).
var signingPolicy = leafPolicy()

func leafPolicy() *config.Signing {
	profiles := map[string]*config.SigningProfile{}
	for _, k := range []kind{kindServer, kindClient, kindPeer} {
		for _, r := range []bool{false, true} {
			profiles[profileName(k, r)] = &config.SigningProfile{Usage: usages(k, r), Expiry: 24 * time.Hour, ExpiryString: "24h"}
		}
	}
	return &config.Signing{
		Default:  &config.SigningProfile{Usage: []string{"digital signature"}, Expiry: 24 * time.Hour, ExpiryString: "24h"},
		Profiles: profiles,
	}
}

// wantUsage returns the key usage and extended key usages a leaf of kind k must have.
func wantUsage(k kind, rsaKey bool) (x509.KeyUsage, []x509.ExtKeyUsage) {
	p := signingPolicy.Profiles[profileName(k, rsaKey)]
	ku, eku, _ := p.Usages()
	return ku, eku
}

// subject builds the cfssl subject names: location from the plan, one entry per O.
func subject(c plan.Certificates, org []string, ou string) []csr.Name {
	base := csr.Name{C: c.Country, ST: c.State, L: c.City, OU: ou}
	if len(org) == 0 {
		if csr.IsNameEmpty(base) {
			return nil
		}
		return []csr.Name{base}
	}
	out := make([]csr.Name, 0, len(org))
	for i, o := range org {
		n := csr.Name{O: o}
		if i == 0 {
			n = base
			n.O = o
		}
		out = append(out, n)
	}
	return out
}

// authority is a CA that can sign: its certificate and key.
type authority struct {
	name    string
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	keyPEM  []byte
}

// newCA makes a self-signed CA with cfssl: a key of the plan's algorithm (or key, when
// an existing key must be kept), a CSR and a signature under initca's CA policy,
// restricted to path length 0 (it signs leaves, never other CAs).
func newCA(p *plan.Plan, s *spec, key crypto.Signer, now time.Time) (certPEM, keyPEM []byte, err error) {
	req := &csr.CertificateRequest{
		CN:    s.cn,
		Names: subject(p.Certificates, nil, plan.DefaultCertificateOrgUnit),
		CA:    &csr.CAConfig{PathLength: 0, PathLenZero: true, Expiry: p.Certificates.CAExpiry.String()},
	}
	if key == nil {
		kr, err := keyRequest(p.Certificates.KeyAlgorithm)
		if err != nil {
			return nil, nil, err
		}
		req.KeyRequest = kr
		csrPEM, kp, err := (&csr.Generator{Validator: func(*csr.CertificateRequest) error { return nil }}).ProcessRequest(req)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: generate key: %w", s.name, err)
		}
		if key, err = helpers.ParsePrivateKeyPEM(kp); err != nil {
			return nil, nil, fmt.Errorf("%s: parse new key: %w", s.name, err)
		}
		keyPEM = kp
		certPEM, err = signCA(key, csrPEM, p.Certificates.CAExpiry, now)
		return certPEM, keyPEM, err
	}
	csrPEM, err := csr.Generate(key, req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: CSR: %w", s.name, err)
	}
	certPEM, err = signCA(key, csrPEM, p.Certificates.CAExpiry, now)
	return certPEM, nil, err
}

// signCA self-signs a CA CSR with initca's CA policy and an explicit validity window.
func signCA(key crypto.Signer, csrPEM []byte, expiry time.Duration, now time.Time) ([]byte, error) {
	policy := initca.CAPolicy()
	policy.Default.Expiry = expiry
	policy.Default.ExpiryString = expiry.String()
	policy.Default.CAConstraint.MaxPathLen = 0
	policy.Default.CAConstraint.MaxPathLenZero = true
	s, err := local.NewSigner(key, nil, signer.DefaultSigAlgo(key), policy)
	if err != nil {
		return nil, fmt.Errorf("cfssl CA signer: %w", err)
	}
	nb := now.Add(-backdate).UTC().Truncate(time.Second)
	cert, err := s.Sign(signer.SignRequest{Request: string(csrPEM), NotBefore: nb, NotAfter: nb.Add(backdate + expiry)})
	if err != nil {
		return nil, fmt.Errorf("cfssl sign CA: %w", err)
	}
	return cert, nil
}

// issueLeaf generates a key for s and signs a certificate for it with ca.
func issueLeaf(p *plan.Plan, s *spec, ca *authority, now time.Time) (certPEM, keyPEM []byte, err error) {
	kr, err := keyRequest(p.Certificates.KeyAlgorithm)
	if err != nil {
		return nil, nil, err
	}
	priv, err := kr.Generate()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: generate key: %w", s.name, err)
	}
	key := priv.(crypto.Signer)
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, fmt.Errorf("%s: encode key: %w", s.name, err)
	}
	if certPEM, err = signLeaf(p, s, ca, key.Public(), now); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// signLeaf signs a certificate for s and the public key pub with ca. It builds the
// certificate cfssl's local signer builds from a CSR (the subject cfssl's request
// names, hosts as cfssl sorts them into SANs, a 20-byte random serial, usages, subject
// key ID and validity from kisgen's cfssl signing profile through signer.FillTemplate),
// without the CSR itself: kisgen made the key a moment ago, so signing a CSR with it only
// to verify that signature again proves nothing and cost two of a leaf's four ECDSA
// operations (issue 17's cold render). TestLeafMatchesCfsslSigner keeps the two
// certificates equal field by field.
func signLeaf(p *plan.Plan, s *spec, ca *authority, pub crypto.PublicKey, now time.Time) ([]byte, error) {
	_, rsaKey := pub.(*rsa.PublicKey)
	req := csr.CertificateRequest{CN: s.cn, Names: subject(p.Certificates, s.org, "")}
	name, err := req.Name()
	if err != nil {
		return nil, fmt.Errorf("%s: subject: %w", s.name, err)
	}
	serial := make([]byte, 20)
	if _, err := rand.Read(serial); err != nil {
		return nil, fmt.Errorf("%s: serial number: %w", s.name, err)
	}
	serial[0] &= 0x7f // a positive integer of at most 20 octets (RFC 5280 4.1.2.2)
	tpl := x509.Certificate{
		Subject:            name,
		PublicKey:          pub,
		SignatureAlgorithm: signer.DefaultSigAlgo(ca.key),
		SerialNumber:       new(big.Int).SetBytes(serial),
	}
	local.OverrideHosts(&tpl, s.hosts())
	nb := now.Add(-backdate).UTC().Truncate(time.Second)
	if err := signer.FillTemplate(&tpl, signingPolicy.Default, signingPolicy.Profiles[profileName(s.kind, rsaKey)], nb, nb.Add(backdate+p.Certificates.Expiry)); err != nil {
		return nil, fmt.Errorf("%s: %s's signing profile: %w", s.name, ca.name, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, &tpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("%s: sign with %s: %w", s.name, ca.name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// parseCertPEM parses a file that must hold exactly one PEM certificate.
func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM data")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("more than one PEM block: keep exactly one certificate per file")
	}
	return x509.ParseCertificate(block.Bytes)
}

// parseKeyPEM parses a PEM private key (PKCS#1, SEC 1 or PKCS#8; RSA or ECDSA).
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	key, err := helpers.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("not a PEM private key kisgen can use (RSA or ECDSA, unencrypted): %w", err)
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return key, nil
	}
	return nil, fmt.Errorf("unsupported key type %T: use RSA or ECDSA", key)
}

// keyMatches reports whether key is the private half of pub.
func keyMatches(key crypto.Signer, pub crypto.PublicKey) bool {
	k, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}

// newServiceAccountKey generates the service-account signing key: ECDSA P-256 (ES256
// tokens) or RSA of the plan's size (RS256), PEM-encoded with its public key.
func newServiceAccountKey(alg plan.KeyAlgorithm) (keyPEM, pubPEM []byte, err error) {
	kr, err := keyRequest(alg)
	if err != nil {
		return nil, nil, err
	}
	priv, err := kr.Generate()
	if err != nil {
		return nil, nil, fmt.Errorf("service-account: generate key: %w", err)
	}
	if keyPEM, err = encodeKey(priv.(crypto.Signer)); err != nil {
		return nil, nil, fmt.Errorf("service-account: encode key: %w", err)
	}
	pubPEM, err = publicKeyPEM(priv.(crypto.Signer).Public())
	return keyPEM, pubPEM, err
}

// encodeKey PEM-encodes a private key kisgen generated as cfssl writes its keys: SEC 1
// ("EC PRIVATE KEY") for ECDSA, PKCS #1 ("RSA PRIVATE KEY") for RSA.
func encodeKey(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

func publicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
