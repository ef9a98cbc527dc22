package verify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/roles"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// BenchmarkVerify500Nodes verifies 500 simulated nodes with concurrency 64: eight real
// sshd servers on loopback, each node its own SSH connection running every check (the
// sudo session, then one batch of 16 commands, plus the cluster's node and pod lists once)
// against one healthy fixture root. Every simulated node's commands run on this machine,
// so the figure is bound by their cost here, not by verify's. Run it with
//
//	go test -run '^$' -bench Verify500Nodes -benchtime 3x ./verify/
//
// and read nodes/s.
func BenchmarkVerify500Nodes(b *testing.B) {
	const nodes, servers, concurrency = 500, 8, 64
	signer := sshdtest.NewSigner(b)
	f := newFixtureNode(b, "node000", signer, fixtureOptions{})
	// One status file for every simulated node: it names no host.
	f.status(func(s *roles.Status) { s.Host = "" })
	addrs := []string{f.server.Addr}
	hostKeys := []ssh.PublicKey{f.server.HostKey}
	for len(addrs) < servers {
		s := sshdtest.Start(b, sshdtest.Config{
			AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
			Env:            map[string]string{"PATH": f.bin + ":/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "KISGEN_FIXTURE": f.root},
		})
		addrs = append(addrs, s.Addr)
		hostKeys = append(hostKeys, s.HostKey)
	}
	targets := make([]Target, nodes)
	var docs, pods []map[string]any
	for i := range targets {
		t := f.target
		t.Host = fmt.Sprintf("node%03d", i)
		t.Addr, t.HostKey = addrs[i%servers], hostKeys[i%servers]
		if i > 0 {
			// The fixture is a master holding the virtual IP; one holder, as in a cluster
			// (500 would fail the cluster check that exactly one master holds it).
			t.Expect.VirtualIP = nil
		}
		targets[i] = t
		docs = append(docs, kubeNodeDoc(t.Host, map[string]string{"example.com/tier": "general"},
			[]map[string]string{{"key": "dedicated", "value": "db", "effect": "NoSchedule"}}, "True"))
		pods = append(pods, calicoPodDoc(t.Host, true))
	}
	f.nodes(docs...)
	f.pods(pods...)
	o := Options{Concurrency: concurrency, DialTimeout: 30 * time.Second, CommandTimeout: time.Minute}

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep := Run(context.Background(), targets, o)
		if !rep.OK {
			b.Fatalf("run %d: %s", i, Summary(rep))
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(nodes*b.N)/elapsed.Seconds(), "nodes/s")
	b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/500nodes")
}
