package verify

import (
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
)

// VirtualIPExpect is set on every master of a plan with master.virtual_ip: kisgen's
// HAProxy must see at least one ready API server, and the run finds out which master
// holds the address (exactly one must: the cluster check).
type VirtualIPExpect struct {
	// Address is the virtual IP.
	Address string
	// StatsSocket is HAProxy's stats socket (roles.HAProxyStatsSocket), read as root.
	StatsSocket string
	// Backend is HAProxy's backend of API servers.
	Backend string
}

// Facts a node's checks record for the cluster checks (NodeResult.facts).
const (
	factVIPHolder  = "vip-holder"  // "yes" or "no"
	factEtcdLeader = "etcd-leader" // the leader's member name, as this member sees it
	factEtcdHealth = "etcd-health" // "yes" when the member answered healthy
)

// checkVirtualIP proves that the master's HAProxy reaches at least one ready API server,
// and reads whether this master holds the virtual IP.
var checkVirtualIP = &check{
	Name:  "virtual-ip",
	Title: "HAProxy reaches a ready API server; whether this master holds the virtual IP",
	root:  true,
	skip: func(t *Target) string {
		if t.Expect.VirtualIP == nil {
			return "no virtual IP on this node (not a master, or the plan's load balancer is external)"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe {
		return []probe{{false, addrArgv}, {true, haproxyStatArgv(t.Expect.VirtualIP)}}
	},
	run: func(ctx context.Context, n *node) CheckResult {
		v := n.t.Expect.VirtualIP
		out, err := n.exec(ctx, false, addrArgv...)
		if err != nil {
			return failed(err)
		}
		if out.Exit != 0 {
			return failedf("cannot list the addresses: %s", commandFailed(addrArgv, out))
		}
		holds := holdsAddress(string(out.Stdout), v.Address)
		n.fact(factVIPHolder, map[bool]string{true: "yes", false: "no"}[holds])
		argv := haproxyStatArgv(v)
		sout, err := n.exec(ctx, true, argv...)
		if err != nil {
			return failed(err)
		}
		if sout.Exit != 0 {
			return failedf("cannot read HAProxy's state on %s (systemctl status kisgen-haproxy): %s", v.StatsSocket, commandFailed(argv, sout))
		}
		servers, err := haproxyServers(string(sout.Stdout), v.Backend)
		if err != nil {
			return failedf("HAProxy's state: %v", err)
		}
		var up, states []string
		for _, s := range servers {
			states = append(states, s.name+" "+s.status)
			if strings.HasPrefix(s.status, "UP") {
				up = append(up, s.name)
			}
		}
		where := "standby (another master holds " + v.Address + ")"
		if holds {
			where = "holds " + v.Address
		}
		if len(up) == 0 {
			return failedf("%s; HAProxy reaches no ready API server: %s (kubectl get --raw /readyz on each master)", where, strings.Join(states, ", "))
		}
		return passed("%s; HAProxy: %s", where, strings.Join(states, ", "))
	},
}

var addrArgv = []string{"ip", "-o", "-4", "addr", "show"}

// haproxyStatArgv asks HAProxy's stats socket for its state (CSV), with socat.
func haproxyStatArgv(v *VirtualIPExpect) []string {
	return []string{"sh", "-c", "echo 'show stat' | socat -t 5 - UNIX-CONNECT:" + v.StatsSocket}
}

// holdsAddress says whether `ip -o -4 addr show` lists addr on an interface.
func holdsAddress(ipAddr, addr string) bool {
	for _, l := range strings.Split(ipAddr, "\n") {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" && strings.SplitN(f[i+1], "/", 2)[0] == addr {
				return true
			}
		}
	}
	return false
}

type haproxyServer struct{ name, status string }

// haproxyServers reads the servers of backend from HAProxy's `show stat` CSV (its first
// line names the columns: "# pxname,svname,…,status,…").
func haproxyServers(stat, backend string) ([]haproxyServer, error) {
	stat = strings.TrimPrefix(strings.TrimSpace(stat), "# ")
	rows, err := csv.NewReader(strings.NewReader(stat)).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("unreadable stats (%v)", err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	if _, ok := col["status"]; !ok {
		return nil, fmt.Errorf("no status column in %q", strings.Join(rows[0], ","))
	}
	var out []haproxyServer
	for _, r := range rows[1:] {
		if len(r) <= max(px, sv, st) || r[px] != backend || r[sv] == "BACKEND" || r[sv] == "FRONTEND" {
			continue
		}
		out = append(out, haproxyServer{r[sv], r[st]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("backend %s has no servers", backend)
	}
	slices.SortFunc(out, func(a, b haproxyServer) int { return strings.Compare(a.name, b.name) })
	return out, nil
}
