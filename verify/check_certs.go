package verify

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// defaultRenewBefore is how long before expiry a certificate fails when the plan says
// nothing.
const defaultRenewBefore = 30 * 24 * time.Hour

// certReadLimit bounds what is read of each certificate file.
const certReadLimit = 1 << 20

// checkCerts proves that each certificate on the node is valid now and stays valid for at
// least RenewBefore.
var checkCerts = &check{
	Name:  "cert-expiry",
	Title: "Certificates on the node are valid and not near expiry",
	root:  true,
	skip: func(t *Target) string {
		if len(t.Expect.Certs) == 0 {
			return "no certificates expected on this node"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe { return []probe{{true, certsArgv(t)}} },
	run: func(ctx context.Context, n *node) CheckResult {
		paths := n.t.Expect.Certs
		argv := certsArgv(n.t)
		out, err := n.exec(ctx, true, argv...)
		if err != nil {
			return failed(err)
		}
		contents := splitHead(string(out.Stdout))
		renew := n.t.Expect.RenewBefore
		if renew <= 0 {
			renew = defaultRenewBefore
		}
		now := n.o.Now()
		var problems []string
		soonest, soonestPath := time.Time{}, ""
		for _, p := range paths {
			data, ok := contents[p]
			if !ok {
				problems = append(problems, p+": missing or unreadable")
				continue
			}
			cert, err := firstCert([]byte(data))
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", p, err))
				continue
			}
			switch left := cert.NotAfter.Sub(now); {
			case now.Before(cert.NotBefore):
				problems = append(problems, fmt.Sprintf("%s: not valid until %s (is the node's clock wrong?)", p, cert.NotBefore.UTC().Format(time.RFC3339)))
			case left <= 0:
				problems = append(problems, fmt.Sprintf("%s: EXPIRED on %s (kisgen certs rotate, then re-render)", p, cert.NotAfter.UTC().Format(time.RFC3339)))
			case left < renew:
				problems = append(problems, fmt.Sprintf("%s: expires in %s on %s, within the renewal window of %s (kisgen certs rotate)", p, days(left), cert.NotAfter.UTC().Format(time.RFC3339), days(renew)))
			}
			if soonest.IsZero() || cert.NotAfter.Before(soonest) {
				soonest, soonestPath = cert.NotAfter, p
			}
		}
		if len(problems) > 0 {
			return failedf("%d of %d certificates:\n  %s", len(problems), len(paths), strings.Join(problems, "\n  "))
		}
		return passed("%d valid; first to expire: %s in %s", len(paths), soonestPath, days(soonest.Sub(now)))
	},
}

// certsArgv reads every certificate in one command: head -v prints "==> PATH <==" before
// each file.
func certsArgv(t *Target) []string {
	return append([]string{"head", "-v", "-c", fmt.Sprint(certReadLimit), "--"}, t.Expect.Certs...)
}

// splitHead reads `head -v` output: "==> PATH <==" lines, each followed by the file.
func splitHead(text string) map[string]string {
	m := map[string]string{}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur != "" {
			m[cur] = b.String()
		}
		b.Reset()
	}
	for _, l := range strings.SplitAfter(text, "\n") {
		t := strings.TrimRight(l, "\n")
		if strings.HasPrefix(t, "==> ") && strings.HasSuffix(t, " <==") {
			flush()
			cur = strings.TrimSuffix(strings.TrimPrefix(t, "==> "), " <==")
			continue
		}
		b.WriteString(l)
	}
	flush()
	return m
}

func firstCert(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("no PEM certificate in the file")
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("unreadable certificate: %v", err)
			}
			return c, nil
		}
	}
}

func days(d time.Duration) string {
	if d < 48*time.Hour {
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
