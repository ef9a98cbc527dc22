package verify

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// BirdCommand prints every BIRD session with its state and neighbour, inside the
// calico-node container (BIRD's control socket is /var/run/calico/bird.ctl there).
var BirdCommand = []string{"birdcl", "-s", "/var/run/calico/bird.ctl", "show", "protocols", "all"}

// calicoExpect is what Calico must look like on a Kubernetes node n of plan p: its
// calico-node pod Ready (set from the roles), a BGP session Established with every other
// Calico node under the cluster's AS number (the full mesh, in both modes: IP-in-IP
// routes are learnt over BGP too), and in overlay mode the tunl0 device up.
func calicoExpect(p *plan.Plan, n *plan.Node) *CalicoExpect {
	e := &CalicoExpect{BirdInPod: true, ASNumber: p.Network.ASNumber}
	if e.ASNumber == 0 {
		e.ASNumber = plan.DefaultASNumber
	}
	for _, o := range p.Nodes {
		if o != n && o.IsKubernetesNode() {
			e.BGPPeers = append(e.BGPPeers, o.InternalIP.String())
		}
	}
	if p.Network.Mode != plan.ModeRouted {
		e.Tunnel = "tunl0"
	}
	return e
}

// birdOutput is what BirdCommand printed in one node's calico-node pod.
type birdOutput struct {
	pod  string
	text string
	err  error
}

// birdSessionsOf runs BirdCommand in each calico-node pod through master n's kubectl.
func birdSessionsOf(ctx context.Context, n *node, k *KubectlAccess, pods map[string]kubePod) map[string]birdOutput {
	out := map[string]birdOutput{}
	for _, name := range sortedKeys(pods) {
		pod := pods[name].name
		argv := append(kubectlArgv(k), "--request-timeout=20s", "-n", "kube-system", "exec", pod, "-c", "calico-node", "--")
		argv = append(argv, BirdCommand...)
		res, err := n.exec(ctx, true, argv...)
		switch {
		case err != nil:
			out[name] = birdOutput{pod: pod, err: err}
		case res.Exit != 0:
			out[name] = birdOutput{pod: pod, err: fmt.Errorf("%s", commandFailed(argv, res))}
		default:
			out[name] = birdOutput{pod: pod, text: string(res.Stdout)}
		}
	}
	return out
}

// birdSession is one BGP protocol of BIRD's `show protocols all`.
type birdSession struct {
	name, state string
	neighbor    string
	as          uint32
}

// parseBirdProtocols reads BIRD 1.6's `show protocols [all]`: a line per protocol
// ("Mesh_10_0_0_2 BGP master up 09:27:18 Established"), then, with all, indented details
// of which it keeps "BGP state:", "Neighbor address:" and "Neighbor AS:". Only BGP
// protocols are returned. Without details, the neighbour is read from Calico's protocol
// name (Mesh_10_0_0_2, Node_…, Global_…).
func parseBirdProtocols(text string) []birdSession {
	var out []birdSession
	var cur *birdSession
	for _, l := range strings.Split(text, "\n") {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			cur = nil
			f := strings.Fields(l)
			if len(f) < 4 || f[1] != "BGP" {
				continue
			}
			// The info column starts with the BGP state (Established, Active: "Socket:
			// Connection refused"); without one, the protocol's own state (start, down).
			s := birdSession{name: f[0], state: f[3]}
			if len(f) >= 6 {
				s.state = f[5]
			}
			if _, ip, ok := strings.Cut(f[0], "_"); ok && strings.Count(ip, "_") == 3 {
				s.neighbor = strings.ReplaceAll(ip, "_", ".")
			}
			out = append(out, s)
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "BGP state":
			cur.state = val
		case "Neighbor address":
			cur.neighbor = val
		case "Neighbor AS":
			if as, err := strconv.ParseUint(val, 10, 32); err == nil {
				cur.as = uint32(as)
			}
		}
	}
	return out
}

// bgpProblems compares BIRD's sessions with the planned peers and AS: one line per peer
// without an Established session or under another AS.
func bgpProblems(sessions []birdSession, peers []string, as uint32) []string {
	byPeer := map[string]birdSession{}
	for _, s := range sessions {
		if _, seen := byPeer[s.neighbor]; !seen || s.state == "Established" {
			byPeer[s.neighbor] = s
		}
	}
	var problems []string
	for _, p := range peers {
		s, ok := byPeer[p]
		switch {
		case !ok:
			problems = append(problems, p+": no BGP session")
		case s.state != "Established":
			problems = append(problems, fmt.Sprintf("%s: %s (%s)", p, orDefault(s.state, "down"), s.name))
		case as != 0 && s.as != 0 && s.as != as:
			problems = append(problems, fmt.Sprintf("%s: neighbour AS %d, the plan's is %d", p, s.as, as))
		}
	}
	sort.Strings(problems)
	return problems
}

// tunnelProblem reads `ip -d -o link show dev DEV` and `ip -o -4 addr show dev DEV`:
// the device must be an ipip tunnel, UP, with an IPv4 address (calico-node gives tunl0
// one from the pool). It returns "" or what is wrong.
func tunnelProblem(dev, link, addr string) string {
	if !strings.Contains(link, " "+dev+":") && !strings.Contains(link, " "+dev+"@") {
		return dev + " does not exist"
	}
	flags := ""
	if i, j := strings.Index(link, "<"), strings.Index(link, ">"); i >= 0 && j > i {
		flags = "," + link[i+1:j] + ","
	}
	switch {
	case !strings.Contains(link, " ipip "):
		return dev + " is not an IP-in-IP tunnel"
	case !strings.Contains(flags, ",UP,"):
		return dev + " is down (flags <" + strings.Trim(flags, ",") + ">)"
	case !strings.Contains(addr, " inet "):
		return dev + " has no IPv4 address (calico-node assigns one from the IP pool)"
	}
	return ""
}
