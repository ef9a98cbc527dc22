package verify

import (
	"context"
	"strconv"
	"strings"
)

// checkPorts proves that every port of the node's roles has a listening TCP socket.
var checkPorts = &check{
	Name:  "ports",
	Title: "The ports of the node's roles are listening",
	skip: func(t *Target) string {
		if len(t.Expect.Ports) == 0 {
			return "no ports expected on this node"
		}
		return ""
	},
	run: func(ctx context.Context, n *node) CheckResult {
		argv := []string{"ss", "-Hltn"}
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
			if listening[p.Number] {
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

// listeningPorts reads `ss -Hltn`: "LISTEN 0 4096 127.0.0.1:2379 0.0.0.0:*", the local
// address being the fourth column ("[::]:6443", "*:10250", "127.0.0.53%lo:53").
func listeningPorts(text string) map[int]bool {
	ports := map[int]bool{}
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		local := f[3]
		if i := strings.LastIndexByte(local, ':'); i >= 0 {
			if p, err := strconv.Atoi(local[i+1:]); err == nil {
				ports[p] = true
			}
		}
	}
	return ports
}
