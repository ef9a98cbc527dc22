package pki

import (
	"testing"
	"time"
)

func TestCertificatesListsDaysLeftAndExpiringFindsTheSoonest(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	p := examplePlan(t, "minimal.yaml") // leaves 17520h, CAs 17520h
	b, _ := mustEnsure(t, p, t.TempDir(), Options{Now: func() time.Time { return now }})
	certs := b.Certificates(now)
	if len(certs) != len(b.Names())-1 { // every pair but the service-account key
		t.Errorf("%d certificates for %d pairs", len(certs), len(b.Names()))
	}
	for _, c := range certs {
		if c.DaysLeft != 729 && c.DaysLeft != 730 {
			t.Errorf("%s: %d days left at issue, want 730 (less the backdating hour)", c.Name, c.DaysLeft)
		}
	}
	later := now.Add(17520*time.Hour - 10*24*time.Hour)
	if got := Expiring(b.Certificates(later), later, 9*24*time.Hour); len(got) != 0 {
		t.Errorf("%d expiring within 9 days of the 10 left", len(got))
	}
	if got := Expiring(b.Certificates(later), later, 11*24*time.Hour); len(got) != len(certs) {
		t.Errorf("%d of %d expiring within 11 days of the 10 left", len(got), len(certs))
	}
	expired := b.Certificates(now.Add(17520*time.Hour + 48*time.Hour))
	if expired[0].DaysLeft >= 0 {
		t.Errorf("days left after expiry: %d, want negative", expired[0].DaysLeft)
	}
	kinds := map[string]string{}
	for _, c := range certs {
		kinds[c.Name] = c.Kind
	}
	for name, want := range map[string]string{CA: "ca", Admin: "client", APIServer("master1"): "server", EtcdPeer("etcd1"): "peer"} {
		if kinds[name] != want {
			t.Errorf("%s: kind %q, want %q", name, kinds[name], want)
		}
	}
}
