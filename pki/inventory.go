package pki

import (
	"crypto/x509"
	"math"
	"slices"
	"sort"
	"time"
)

// CertInfo describes one certificate of a Bundle, for `kisgen certs list` and `check`.
type CertInfo struct {
	Name         string    `json:"name"`
	Kind         string    `json:"kind"` // ca, server, client or peer (server and client)
	CN           string    `json:"cn"`
	O            []string  `json:"o,omitempty"`
	SANs         []string  `json:"sans,omitempty"`
	Issuer       string    `json:"issuer"`
	KeyAlgorithm string    `json:"key_algorithm"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	// DaysLeft is the number of whole days until NotAfter (negative once expired).
	DaysLeft int `json:"days_left"`
}

// Certificates lists every certificate in the bundle, sorted by name, with days left
// counted from now. CAs that are only trusted during a rotation are listed as
// "next/NAME" and "previous/NAME".
func (b *Bundle) Certificates(now time.Time) []CertInfo {
	var out []CertInfo
	for name, p := range b.pairs {
		if p.Cert != nil {
			out = append(out, certInfo(name, p.Cert, now))
		}
	}
	for name, c := range b.trustOnly {
		out = append(out, certInfo(name, c, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Expiring returns the certificates that expire before now+within (or already have).
func Expiring(certs []CertInfo, now time.Time, within time.Duration) []CertInfo {
	var out []CertInfo
	limit := now.Add(within)
	for _, c := range certs {
		if c.NotAfter.Before(limit) {
			out = append(out, c)
		}
	}
	return out
}

func certInfo(name string, c *x509.Certificate, now time.Time) CertInfo {
	var sans []string
	sans = append(sans, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	return CertInfo{
		Name:         name,
		Kind:         certKind(c),
		CN:           c.Subject.CommonName,
		O:            c.Subject.Organization,
		SANs:         sans,
		Issuer:       c.Issuer.CommonName,
		KeyAlgorithm: string(keyAlgorithm(c.PublicKey)),
		NotBefore:    c.NotBefore.UTC(),
		NotAfter:     c.NotAfter.UTC(),
		DaysLeft:     int(math.Floor(c.NotAfter.Sub(now).Hours() / 24)),
	}
}

func certKind(c *x509.Certificate) string {
	server := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	client := slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	switch {
	case c.IsCA:
		return "ca"
	case server && client:
		return "peer"
	case server:
		return "server"
	case client:
		return "client"
	}
	return "other"
}
