package verify

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func calicoFixture(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "calico", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestParseBirdProtocols reads BIRD 1.6's `show protocols all` as calico-node's birdcl
// prints it (formats of bird's nest/proto.c and proto/bgp/bgp.c), and the short form.
func TestParseBirdProtocols(t *testing.T) {
	cases := []struct {
		name, text string
		want       []birdSession
	}{
		{"two sessions established, details give neighbour and AS", calicoFixture(t, "bird-routed-established.txt"), []birdSession{
			{name: "Mesh_10_10_0_31", state: "Established", neighbor: "10.10.0.31", as: 64511},
			{name: "Mesh_10_10_0_32", state: "Established", neighbor: "10.10.0.32", as: 64511}}},
		{"a refused session is Active, not the last word of its info", calicoFixture(t, "bird-one-peer-down.txt"), []birdSession{
			{name: "Mesh_10_10_0_31", state: "Established", neighbor: "10.10.0.31", as: 64511},
			{name: "Mesh_10_10_0_32", state: "Active", neighbor: "10.10.0.32", as: 64511}}},
		{"short form: neighbour from Calico's protocol name, state from the info column",
			"name     proto    table    state  since       info\nMesh_10_0_0_22 BGP      master   up     09:27:18    Established\nNode_10_0_0_5 BGP      master   start  09:27:18    Connect       Socket: Connection refused\nMesh_10_0_0_9 BGP      master   down   09:27:18\n",
			[]birdSession{{name: "Mesh_10_0_0_22", state: "Established", neighbor: "10.0.0.22"}, {name: "Node_10_0_0_5", state: "Connect", neighbor: "10.0.0.5"},
				{name: "Mesh_10_0_0_9", state: "down", neighbor: "10.0.0.9"}}},
		// Captured from the BIRD kisgen builds (calico-bird 1e2ff99d), two instances in
		// network namespaces peering over a veth pair, a third peer unreachable.
		{"real output: one session up, one unreachable", calicoFixture(t, "bird-real-netns.txt"), []birdSession{
			{name: "Mesh_10_99_0_2", state: "Established", neighbor: "10.99.0.2", as: 64511},
			{name: "Mesh_10_99_0_9", state: "Connect", neighbor: "10.99.0.9", as: 64511}}},
		{"real output, short form", calicoFixture(t, "bird-real-netns-short.txt"), []birdSession{
			{name: "Mesh_10_99_0_2", state: "Established", neighbor: "10.99.0.2"},
			{name: "Mesh_10_99_0_9", state: "Connect", neighbor: "10.99.0.9"}}},
		{"no BGP protocols", "BIRD v0.3.3+birdv1.6.8 ready.\nname     proto    table    state  since       info\nkernel1  Kernel   master   up     21:52:00\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, parseBirdProtocols(c.text), cmp.AllowUnexported(birdSession{})); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestBGPProblems(t *testing.T) {
	peers := []string{"10.10.0.31", "10.10.0.32"}
	cases := []struct {
		name, fixture string
		as            uint32
		want          []string
	}{
		{"all established in the plan's AS", "bird-routed-established.txt", 64511, nil},
		{"a peer down", "bird-one-peer-down.txt", 64511, []string{"10.10.0.32: Active (Mesh_10_10_0_32)"}},
		{"another AS", "bird-wrong-as.txt", 64511, []string{"10.10.0.31: neighbour AS 64512, the plan's is 64511", "10.10.0.32: neighbour AS 64512, the plan's is 64511"}},
		{"another AS, not checked when the plan gives none", "bird-wrong-as.txt", 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := cmp.Diff(c.want, bgpProblems(parseBirdProtocols(calicoFixture(t, c.fixture)), peers, c.as)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	if got := bgpProblems(nil, []string{"10.10.0.40"}, 64511); len(got) != 1 || got[0] != "10.10.0.40: no BGP session" {
		t.Errorf("a peer BIRD does not know: %v", got)
	}
}

func TestTunnelProblem(t *testing.T) {
	up, down, addr := calicoFixture(t, "tunl0-link-up.txt"), calicoFixture(t, "tunl0-link-down.txt"), calicoFixture(t, "tunl0-addr.txt")
	cases := []struct{ name, link, addr, want string }{
		{"up with an address", up, addr, ""},
		{"down", down, addr, "tunl0 is down (flags <NOARP>)"},
		{"up without an address", up, "", "tunl0 has no IPv4 address (calico-node assigns one from the IP pool)"},
		// iproute2 6.1's words, captured here
		{"missing", "Device \"tunl0\" does not exist.\n", "Device \"tunl0\" does not exist.\n", "tunl0 does not exist"},
		{"not IP-in-IP", "7: tunl0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UNKNOWN\\    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff dummy", addr, "tunl0 is not an IP-in-IP tunnel"},
	}
	for _, c := range cases {
		if got := tunnelProblem("tunl0", c.link, c.addr); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
