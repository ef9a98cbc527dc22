package verify

import (
	"context"
	"strconv"
	"strings"
)

// checkPorts proves that every port of the node's roles has a listening TCP socket, on
// the planned address where one is given.
var checkPorts = &check{
	Name:  "ports",
	Title: "The ports of the node's roles are listening",
	skip: func(t *Target) string {
		if len(t.Expect.Ports) == 0 {
			return "no ports expected on this node"
		}
		return ""
	},
	probes: func(*Target, *Options) []probe { return []probe{{false, ssArgv}} },
	run: func(ctx context.Context, n *node) CheckResult {
		argv := ssArgv
		out, err := n.exec(ctx, false, argv...)
		if err != nil {
			return failed(err)
		}
		if out.Exit != 0 {
			return failedf("%s", commandFailed(argv, out))
		}
		listening := listeningPorts(string(out.Stdout))
		var ok, missing []string
		for _, p := range n.t.Expect.Ports {
			if listens(listening[p.Number], p.Address) {
				ok = append(ok, p.String())
			} else {
				missing = append(missing, p.String())
			}
		}
		if len(missing) > 0 {
			return failedf("nothing listens on %s (listening: %s)", strings.Join(missing, ", "), strings.Join(ok, ", "))
		}
		return passed("%s", strings.Join(ok, ", "))
	},
}

var ssArgv = []string{"ss", "-Hltn"}

// listens reports whether one of the addresses serves want ("" for any).
func listens(addrs []string, want string) bool {
	for _, a := range addrs {
		if want == "" || a == want || isWildcard(a) {
			return true
		}
	}
	return false
}

// isWildcard says whether a listener on addr serves every address.
func isWildcard(addr string) bool { return addr == "0.0.0.0" || addr == "::" || addr == "*" }

// listeningPorts reads `ss -Hltn`: "LISTEN 0 4096 127.0.0.1:2379 0.0.0.0:*", the local
// address being the fourth column ("[::]:6443", "*:10250", "127.0.0.53%lo:53"). It
// returns the addresses listening on each port.
func listeningPorts(text string) map[int][]string {
	ports := map[int][]string{}
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		local := f[3]
		i := strings.LastIndexByte(local, ':')
		if i < 0 {
			continue
		}
		p, err := strconv.Atoi(local[i+1:])
		if err != nil {
			continue
		}
		addr := strings.TrimSuffix(strings.TrimPrefix(local[:i], "["), "]")
		if j := strings.IndexByte(addr, '%'); j >= 0 {
			addr = addr[:j]
		}
		ports[p] = append(ports[p], addr)
	}
	return ports
}
