package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkEtcd proves, from an etcd node, that the cluster's members are exactly the planned
// ones, all started, and that this node's member answers healthy. It uses the
// healthcheck client certificate, read as root.
var checkEtcd = &check{
	Name:  "etcd",
	Title: "etcd members equal the plan and this member is healthy",
	root:  true,
	skip: func(t *Target) string {
		if t.Expect.Etcd == nil {
			return "not an etcd node"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		return []probe{{true, etcdctlArgv(t.Expect.Etcd, o.CommandTimeout, etcdList...)}, {true, etcdctlArgv(t.Expect.Etcd, o.CommandTimeout, etcdHealth...)}, {true, etcdctlArgv(t.Expect.Etcd, o.CommandTimeout, etcdStatus...)}}
	},
	run: func(ctx context.Context, n *node) CheckResult {
		e := n.t.Expect.Etcd
		argv := etcdctlArgv(n.t.Expect.Etcd, n.o.CommandTimeout, etcdList...)
		out, err := n.exec(ctx, true, argv...)
		if err != nil {
			return failed(err)
		}
		var ml struct {
			Members []struct {
				ID         uint64   `json:"ID"`
				Name       string   `json:"name"`
				PeerURLs   []string `json:"peerURLs"`
				ClientURLs []string `json:"clientURLs"`
				IsLearner  bool     `json:"isLearner"`
			} `json:"members"`
		}
		if out.Exit != 0 || json.Unmarshal(out.Stdout, &ml) != nil {
			return failedf("cannot list etcd members at %s: %s", e.Endpoint, commandFailed(argv, out))
		}
		var problems, names []string
		for _, m := range ml.Members {
			switch {
			case m.Name == "":
				problems = append(problems, fmt.Sprintf("member %s was added but never started", strings.Join(m.PeerURLs, ",")))
			case m.IsLearner:
				problems = append(problems, fmt.Sprintf("member %s is still a learner", m.Name))
			}
			if m.Name != "" {
				names = append(names, m.Name)
			}
		}
		missing, extra := setDiff(e.Members, names)
		if len(missing) > 0 {
			problems = append(problems, "planned but not members: "+strings.Join(missing, ", "))
		}
		if len(extra) > 0 {
			problems = append(problems, "members not in the plan: "+strings.Join(extra, ", ")+" (remove them with etcdctl member remove)")
		}

		hargv := etcdctlArgv(n.t.Expect.Etcd, n.o.CommandTimeout, etcdHealth...)
		hout, err := n.exec(ctx, true, hargv...)
		if err != nil {
			return failed(err)
		}
		var health []struct {
			Endpoint string `json:"endpoint"`
			Health   bool   `json:"health"`
			Took     string `json:"took"`
			Error    string `json:"error"`
		}
		took := ""
		if json.Unmarshal(hout.Stdout, &health) != nil || len(health) == 0 {
			problems = append(problems, "health unknown: "+commandFailed(hargv, hout))
		}
		for _, h := range health {
			if !h.Health {
				problems = append(problems, fmt.Sprintf("%s is unhealthy: %s", h.Endpoint, orDefault(h.Error, "no reason given")))
			}
			took = h.Took
		}
		if len(problems) > 0 {
			return failedf("%s", strings.Join(problems, "\n  "))
		}
		n.fact(factEtcdHealth, "yes")
		// The leader, as this member sees it (the cluster check compares the members').
		leader := ""
		if sout, err := n.exec(ctx, true, etcdctlArgv(n.t.Expect.Etcd, n.o.CommandTimeout, etcdStatus...)...); err == nil && sout.Exit == 0 {
			var st []struct {
				Status struct {
					Leader uint64 `json:"leader"`
				} `json:"Status"`
			}
			if json.Unmarshal(sout.Stdout, &st) == nil && len(st) == 1 {
				for _, m := range ml.Members {
					if m.ID == st[0].Status.Leader && m.Name != "" {
						leader = m.Name
						n.fact(factEtcdLeader, leader)
					}
				}
			}
		}
		slices.Sort(names)
		if leader != "" {
			leader = "; leader " + leader
		}
		return passed("members %s; %s healthy (%s)%s", strings.Join(names, ", "), e.Endpoint, took, leader)
	},
}

var (
	etcdList   = []string{"member", "list", "-w", "json"}
	etcdHealth = []string{"endpoint", "health", "-w", "json"}
	etcdStatus = []string{"endpoint", "status", "-w", "json"}
)

// etcdctlArgv is etcdctl with this member's endpoint and credentials, then args. Its own
// timeouts, a third of the command timeout to connect and half of it for the request
// (10 s and 15 s with verify's default 30 s), stay below the command timeout so that its
// error, not a timeout, is reported; they grow with it because a busy member (a small
// master that also runs pods) can take seconds for a TLS handshake and still be healthy.
func etcdctlArgv(e *EtcdExpect, budget time.Duration, args ...string) []string {
	if budget <= 0 {
		budget = defaultCommandTimeout
	}
	dial, command := (budget / 3).Round(100*time.Millisecond), (budget / 2).Round(100*time.Millisecond)
	argv := []string{orDefault(e.Etcdctl, "etcdctl"), "--endpoints=" + e.Endpoint, "--dial-timeout=" + dial.String(), "--command-timeout=" + command.String()}
	if e.CACert != "" {
		argv = append(argv, "--cacert="+e.CACert)
	}
	if e.Cert != "" {
		argv = append(argv, "--cert="+e.Cert, "--key="+e.Key)
	}
	return append(argv, args...)
}

// setDiff returns what is in want but not got, and in got but not want, sorted.
func setDiff(want, got []string) (missing, extra []string) {
	in := func(s []string, x string) bool { return slices.Contains(s, x) }
	for _, w := range want {
		if !in(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !in(want, g) {
			extra = append(extra, g)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra
}
