package verify

import (
	"context"
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
		case len(c.ReadyCmd) == 0 && (len(c.BGPCmd) == 0 || len(c.BGPPeers) == 0):
			return "no Calico readiness command or BGP peers given"
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
