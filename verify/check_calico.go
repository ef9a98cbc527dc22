package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// checkCalico proves that calico-node is ready, that a BGP session with every planned
// peer is Established under the cluster's AS number (read in the calico-node pod through
// a master, or with a command on the node) and, in overlay mode, that the IP-in-IP tunnel
// is up.
var checkCalico = &check{
	Name:  "calico",
	Title: "Calico is ready, its BGP sessions are established with the cluster's AS, the IP-in-IP tunnel is up (overlay)",
	root:  true,
	skip: func(t *Target) string {
		c := t.Expect.Calico
		switch {
		case c == nil:
			return "Calico does not run on this node"
		case !c.PodReady && len(c.ReadyCmd) == 0 && c.Tunnel == "" && ((len(c.BGPCmd) == 0 && !c.BirdInPod) || len(c.BGPPeers) == 0):
			return "no Calico pod, readiness command, tunnel or BGP peers to check"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		c := t.Expect.Calico
		var ps []probe
		if len(c.ReadyCmd) > 0 {
			ps = append(ps, probe{true, c.ReadyCmd})
		}
		if len(c.BGPCmd) > 0 && len(c.BGPPeers) > 0 && !c.BirdInPod {
			ps = append(ps, probe{true, c.BGPCmd})
		}
		if c.Tunnel != "" {
			ps = append(ps, probe{false, tunnelLinkCmd(c.Tunnel)}, probe{false, tunnelAddrCmd(c.Tunnel)})
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
		if c.BirdInPod && len(c.BGPPeers) > 0 {
			r, ok := birdInPod(ctx, n)
			if !ok {
				return r
			}
			done = append(done, r.Detail)
		}
		if c.Tunnel != "" {
			var outs [2]string
			for i, argv := range [][]string{tunnelLinkCmd(c.Tunnel), tunnelAddrCmd(c.Tunnel)} {
				out, err := n.exec(ctx, false, argv...)
				if err != nil {
					return failed(err)
				}
				outs[i] = string(out.Stdout) + string(out.Stderr)
			}
			if p := tunnelProblem(c.Tunnel, outs[0], outs[1]); p != "" {
				return failedf("IP-in-IP tunnel: %s (overlay mode: calico-node creates it when the IP pool has ipipMode Always)", p)
			}
			done = append(done, c.Tunnel+" up")
		}
		if len(c.BGPCmd) > 0 && len(c.BGPPeers) > 0 && !c.BirdInPod {
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

func tunnelLinkCmd(dev string) []string {
	return []string{"ip", "-d", "-o", "link", "show", "dev", dev}
}
func tunnelAddrCmd(dev string) []string {
	return []string{"ip", "-o", "-4", "addr", "show", "dev", dev}
}

// birdInPod judges the BGP sessions BIRD reported in this node's calico-node pod. It
// returns the check's result and whether every planned peer is Established.
func birdInPod(ctx context.Context, n *node) (CheckResult, bool) {
	c := n.t.Expect.Calico
	_, via, err := n.cluster.nodeList(ctx)
	if errors.Is(err, errNoKubectl) {
		return skipped("no master with kubectl access is given, so BIRD cannot be asked in the calico-node pod"), false
	}
	if err != nil {
		return failedf("%v", err), false
	}
	name := n.t.Host
	if ne := n.t.Expect.Node; ne != nil && ne.Name != "" {
		name = ne.Name
	}
	out, ok := n.cluster.bird[name]
	switch {
	case n.cluster.podsErr != nil:
		return failedf("cannot list calico-node pods on %s: %v", via, n.cluster.podsErr), false
	case !ok:
		return failedf("no calico-node pod runs on %s (listed on %s), so its BGP sessions cannot be read", name, via), false
	case out.err != nil:
		return failedf("cannot read BIRD's sessions in %s (on %s): %v", out.pod, via, out.err), false
	}
	if problems := bgpProblems(parseBirdProtocols(out.text), c.BGPPeers, c.ASNumber); len(problems) > 0 {
		return failedf("BGP sessions not established with %d of %d peers (BIRD in %s): %s", len(problems), len(c.BGPPeers), out.pod, strings.Join(problems, "; ")), false
	}
	as := ""
	if c.ASNumber != 0 {
		as = fmt.Sprintf(" in AS %d", c.ASNumber)
	}
	return passed("BGP established%s with %s", as, strings.Join(c.BGPPeers, ", ")), true
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
