package verify

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// controlPlaneComponents are the master components whose health endpoint is checked, by
// the owner name their port carries.
var controlPlaneComponents = []string{"kube-controller-manager", "kube-scheduler"}

// checkControlPlane proves that this master's controller manager and scheduler are
// healthy, not only running: each answers "ok" on its own /healthz. Both serve it over
// HTTPS on loopback, open to anonymous requests (their default
// --authorization-always-allow-paths), with a serving certificate of their own: curl on
// the node asks, without checking that certificate, since only loopback is involved.
var checkControlPlane = &check{
	Name:  "control-plane",
	Title: "The master's controller manager and scheduler answer /healthz",
	skip: func(t *Target) string {
		if len(healthzPorts(t)) == 0 {
			return "no controller manager or scheduler on this node"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		var ps []probe
		for _, p := range healthzPorts(t) {
			ps = append(ps, probe{false, healthzArgv(p)})
		}
		return ps
	},
	run: func(ctx context.Context, n *node) CheckResult {
		var ok, bad []string
		for _, p := range healthzPorts(n.t) {
			argv := healthzArgv(p)
			out, err := n.exec(ctx, false, argv...)
			if err != nil {
				return failed(err)
			}
			body := strings.TrimSpace(string(out.Stdout))
			switch {
			case out.Exit == 0 && body == "ok":
				ok = append(ok, p.Owner)
			case out.Exit == 0:
				bad = append(bad, fmt.Sprintf("%s /healthz answered %q", p.Owner, firstLine(body)))
			default:
				bad = append(bad, p.Owner+": "+commandFailed(argv, out))
			}
		}
		if len(bad) > 0 {
			return failedf("%s", strings.Join(bad, "; "))
		}
		return passed("%s healthy", strings.Join(ok, ", "))
	},
}

// healthzPorts are the node's controller manager and scheduler ports, in that order.
func healthzPorts(t *Target) []Port {
	var out []Port
	for _, c := range controlPlaneComponents {
		for _, p := range t.Expect.Ports {
			if p.Owner == c {
				out = append(out, p)
			}
		}
	}
	return out
}

func healthzArgv(p Port) []string {
	addr := p.Address
	if addr == "" || isWildcard(addr) {
		addr = "127.0.0.1"
	}
	return []string{"curl", "-sS", "-k", "--max-time", "10", "https://" + net.JoinHostPort(addr, strconv.Itoa(p.Number)) + "/healthz"}
}
