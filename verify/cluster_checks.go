package verify

import (
	"fmt"
	"slices"
	"strings"
)

// clusterChecks judge the cluster as a whole from what the nodes' checks found: etcd's
// quorum and leader, and which master holds the virtual IP. A node that could not be
// checked counts as down. Checks that do not apply to the plan are left out.
func clusterChecks(targets []Target, nodes []NodeResult) []CheckResult {
	var out []CheckResult
	if c, ok := etcdQuorum(targets, nodes); ok {
		out = append(out, c)
	}
	if c, ok := virtualIPHolder(targets, nodes); ok {
		out = append(out, c)
	}
	return out
}

// etcdQuorum: more than half the planned members answer healthy, and those agree on
// one leader.
func etcdQuorum(targets []Target, nodes []NodeResult) (CheckResult, bool) {
	var members, healthy, down []string
	leaders := map[string][]string{}
	for i, t := range targets {
		if t.Expect.Etcd == nil {
			continue
		}
		members = append(members, t.Host)
		if nodes[i].facts[factEtcdHealth] != "yes" {
			down = append(down, t.Host)
			continue
		}
		healthy = append(healthy, t.Host)
		if l := nodes[i].facts[factEtcdLeader]; l != "" {
			leaders[l] = append(leaders[l], t.Host)
		}
	}
	if len(members) == 0 {
		return CheckResult{}, false
	}
	r := CheckResult{Name: "etcd-quorum", Title: "More than half the etcd members are healthy and agree on a leader"}
	quorum := len(members)/2 + 1
	var names []string
	for l := range leaders {
		names = append(names, l)
	}
	slices.Sort(names)
	detail := fmt.Sprintf("%d of %d members healthy (quorum %d)", len(healthy), len(members), quorum)
	if len(down) > 0 {
		detail += "; down or not checked: " + strings.Join(down, ", ")
	}
	switch {
	case len(healthy) < quorum:
		r.Status, r.Detail = Fail, detail+": etcd refuses writes without a quorum"
	case len(names) > 1:
		r.Status, r.Detail = Fail, detail+"; members disagree on the leader: "+strings.Join(names, ", ")
	case len(names) == 1:
		r.Status, r.Detail = Pass, detail+"; leader "+names[0]
	default:
		r.Status, r.Detail = Pass, detail+"; leader not reported"
	}
	return r, true
}

// virtualIPHolder: exactly one master holds the virtual IP.
func virtualIPHolder(targets []Target, nodes []NodeResult) (CheckResult, bool) {
	var addr string
	var holders, unknown []string
	for i, t := range targets {
		if t.Expect.VirtualIP == nil {
			continue
		}
		addr = t.Expect.VirtualIP.Address
		switch nodes[i].facts[factVIPHolder] {
		case "yes":
			holders = append(holders, t.Host)
		case "":
			unknown = append(unknown, t.Host)
		}
	}
	if addr == "" {
		return CheckResult{}, false
	}
	r := CheckResult{Name: "virtual-ip", Title: "Exactly one master holds the API's virtual IP"}
	note := ""
	if len(unknown) > 0 {
		note = "; not checked: " + strings.Join(unknown, ", ")
	}
	switch len(holders) {
	case 1:
		r.Status, r.Detail = Pass, fmt.Sprintf("%s on %s%s", addr, holders[0], note)
	case 0:
		r.Status, r.Detail = Fail, fmt.Sprintf("no master holds %s%s: the API is unreachable at the load-balanced address (journalctl -u kisgen-keepalived on the masters)", addr, note)
	default:
		r.Status, r.Detail = Fail, fmt.Sprintf("%s is held by %s at once: VRRP between the masters is cut (journalctl -u kisgen-keepalived)", addr, strings.Join(holders, " and "))
	}
	return r, true
}
