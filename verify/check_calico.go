package verify

import (
	"context"
	"errors"
	"strings"
)

// checkCalico proves that calico-node is ready and, where peers are planned (routed
// mode), that a BGP session with each is Established. The commands are parameters.
var checkCalico = &check{
	Name:  "calico",
	Title: "Calico is ready and its BGP sessions are established",
	root:  true,
	skip: func(t *Target) string {
		c := t.Expect.Calico
		switch {
		case c == nil:
			return "Calico does not run on this node"
		case !c.PodReady && len(c.ReadyCmd) == 0 && (len(c.BGPCmd) == 0 || len(c.BGPPeers) == 0):
			return "no Calico pod, readiness command or BGP peers to check"
		}
		return ""
	},
	probes: func(t *Target) []probe {
		c := t.Expect.Calico
		var ps []probe
		if len(c.ReadyCmd) > 0 {
			ps = append(ps, probe{true, c.ReadyCmd})
		}
		if len(c.BGPCmd) > 0 && len(c.BGPPeers) > 0 {
			ps = append(ps, probe{true, c.BGPCmd})
		}
		return ps
	},
	run: func(ctx context.Context, n *node) CheckResult {
		c := n.t.Expect.Calico
		var done []string
		if c.PodReady {
			r, ok := calicoPodReady(ctx, n)
			if !ok {
				return r
			}
			done = append(done, r.Detail)
		}
		if len(c.ReadyCmd) > 0 {
			out, err := n.exec(ctx, true, c.ReadyCmd...)
			if err != nil {
				return failed(err)
			}
			if out.Exit != 0 {
				return failedf("calico-node is not ready: %s", commandFailed(c.ReadyCmd, out))
			}
			done = append(done, "calico-node ready")
		}
		if len(c.BGPCmd) > 0 && len(c.BGPPeers) > 0 {
			out, err := n.exec(ctx, true, c.BGPCmd...)
			if err != nil {
				return failed(err)
			}
			if out.Exit != 0 {
				return failedf("cannot read BGP sessions: %s", commandFailed(c.BGPCmd, out))
			}
			var down []string
			for _, p := range c.BGPPeers {
				if st := bgpState(string(out.Stdout), p); st != "Established" {
					down = append(down, p+" ("+orDefault(st, "no session")+")")
				}
			}
			if len(down) > 0 {
				return failedf("BGP sessions not established with %d of %d peers: %s", len(down), len(c.BGPPeers), strings.Join(down, ", "))
			}
			done = append(done, "BGP established with "+strings.Join(c.BGPPeers, ", "))
		}
		return passed("%s", strings.Join(done, "; "))
	},
}

// calicoPodReady looks up this node's calico-node pod in the cluster's pod list. It
// returns the check's result and whether the pod is Ready.
func calicoPodReady(ctx context.Context, n *node) (CheckResult, bool) {
	_, via, err := n.cluster.nodeList(ctx)
	if errors.Is(err, errNoKubectl) {
		return skipped("no master with kubectl access is given, so calico-node's pod cannot be read"), false
	}
	if err != nil {
		return failedf("%v", err), false
	}
	if n.cluster.podsErr != nil {
		return failedf("cannot list calico-node pods on %s: %v", via, n.cluster.podsErr), false
	}
	name := n.t.Host
	if ne := n.t.Expect.Node; ne != nil && ne.Name != "" {
		name = ne.Name
	}
	p, ok := n.cluster.calico[name]
	if !ok {
		return failedf("no calico-node pod runs on %s (kube-system, k8s-app=calico-node, listed on %s): is the DaemonSet applied (see addons on the first master)?", name, via), false
	}
	if !p.ready {
		return failedf("calico-node pod %s is not Ready: %s (its readiness probe checks felix and BIRD's BGP sessions; kubectl -n kube-system describe pod %s)", p.name, p.why, p.name), false
	}
	return passed("calico-node pod %s Ready", p.name), true
}

// bgpState finds the line about peer in `calicoctl node status` ("| 10.0.0.2 |
// node-to-node mesh | up | 09:27:18 | Established |") or BIRD's `show protocols`
// ("Mesh_10_0_0_2 BGP master up 09:27:18 Established") and returns its session state:
// "Established" or the last word of the line (Connect, Active, …).
func bgpState(text, peer string) string {
	bird := strings.NewReplacer(".", "_", ":", "_").Replace(peer)
	for _, l := range strings.Split(text, "\n") {
		fields := strings.FieldsFunc(l, func(r rune) bool { return r == ' ' || r == '\t' || r == '|' })
		named := false
		for _, f := range fields {
			if f == peer || strings.HasSuffix(f, "_"+bird) {
				named = true
			}
		}
		if !named {
			continue
		}
		for _, f := range fields {
			if f == "Established" {
				return f
			}
		}
		return fields[len(fields)-1]
	}
	return ""
}
