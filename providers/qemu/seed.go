package qemu

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/plan"
)

// macFor derives a stable locally administered MAC (qemu's 52:54:00 prefix) for one NIC
// of one node of one cluster.
func macFor(cluster, host, nic string) string {
	h := sha256.Sum256([]byte(cluster + "\x00" + host + "\x00" + nic))
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", h[0], h[1], h[2])
}

// clusterPrefixLen is the prefix length given to every node's cluster address: the
// longest prefix that holds every node's addresses (and the load balancer's, when it is
// an address), but never longer than /24, so the VMs share one on-link subnet.
func clusterPrefixLen(p *plan.Plan) int {
	var addrs []netip.Addr
	for _, n := range p.Nodes {
		addrs = append(addrs, n.InternalIP)
		if n.IP.IsValid() && n.IP != n.InternalIP {
			addrs = append(addrs, n.IP)
		}
	}
	if a, err := netip.ParseAddr(p.LoadBalancer); err == nil {
		addrs = append(addrs, a)
	}
	best := 24
	for _, a := range addrs {
		if !a.Is4() {
			continue
		}
		for best > 0 {
			pa, _ := addrs[0].Prefix(best)
			pb, _ := a.Prefix(best)
			if pa == pb {
				break
			}
			best--
		}
	}
	return best
}

// lbAddress returns the plan's load-balanced API server address when it is an address
// no node has and the plan has no virtual IP: there is no load balancer among local VMs,
// so the first master answers on it too (the cluster works; it has no failover between
// masters). With master.virtual_ip, keepalived on the masters holds the address.
func lbAddress(p *plan.Plan) (netip.Addr, bool) {
	if !p.LoadBalancerPlanned || len(p.NodesWith(plan.RoleMaster)) == 0 || p.VirtualIP.IsValid() {
		return netip.Addr{}, false
	}
	lb, err := netip.ParseAddr(p.LoadBalancer)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, n := range p.Nodes {
		if n.IP == lb || n.InternalIP == lb {
			return netip.Addr{}, false
		}
	}
	return lb, true
}

// The NoCloud network-config (version 2), built as typed values.
type netConfig struct {
	Version   int                    `yaml:"version"`
	Ethernets map[string]netEthernet `yaml:"ethernets"`
}

type netEthernet struct {
	Match          map[string]string `yaml:"match"`
	DHCP4          bool              `yaml:"dhcp4"`
	DHCP4Overrides map[string]any    `yaml:"dhcp4-overrides,omitempty"`
	Addresses      []string          `yaml:"addresses,omitempty"`
	Routes         []netRoute        `yaml:"routes,omitempty"`
}

type netRoute struct {
	To  string `yaml:"to"`
	Via string `yaml:"via"`
}

// userNetGateway is the host's address in qemu's user network.
const userNetGateway = "10.0.2.2"

// networkConfig gives the management NIC DHCP from qemu's user network (no DNS, which the
// restricted network does not answer) with a default route through the host's address,
// and the cluster NIC the node's planned addresses. qemu's DHCP leaves the router out
// when the network is restricted, and a node needs a default route: Calico's pods reach
// their gateway (169.254.1.1) through proxy ARP on the host's side of their veth, and
// the kernel answers that ARP only for an address it has a route to, so on a node
// without one every pod's traffic fails with "no route to host". The restricted network
// drops what the route would send outside, as an air-gapped site's gateway would.
func networkConfig(p *plan.Plan, n *plan.Node, mgmtMAC, clusterMAC string) ([]byte, error) {
	bits := clusterPrefixLen(p)
	addrs := []string{netip.PrefixFrom(n.InternalIP, bits).String()}
	if n.IP.IsValid() && n.IP != n.InternalIP {
		addrs = append(addrs, netip.PrefixFrom(n.IP, bits).String())
	}
	if lb, ok := lbAddress(p); ok && n == p.NodesWith(plan.RoleMaster)[0] {
		addrs = append(addrs, netip.PrefixFrom(lb, bits).String())
	}
	cfg := netConfig{Version: 2, Ethernets: map[string]netEthernet{
		"mgmt": {Match: map[string]string{"macaddress": mgmtMAC}, DHCP4: true,
			DHCP4Overrides: map[string]any{"use-dns": false, "use-hostname": false},
			Routes:         []netRoute{{To: "0.0.0.0/0", Via: userNetGateway}}},
		"cluster": {Match: map[string]string{"macaddress": clusterMAC}, Addresses: addrs},
	}}
	return yaml.Marshal(cfg)
}

// metaData is the NoCloud meta-data: a stable instance id (so a restarted VM does not run
// its user-data again) and the hostname.
func metaData(name, host string) ([]byte, error) {
	return yaml.Marshal(map[string]string{"instance-id": name, "local-hostname": host})
}

// writeSeed writes the NoCloud seed ISO (volume label cidata) for a node into dir.
func writeSeed(ctx context.Context, genisoimage, dir string, userData, meta, netcfg []byte) error {
	src := filepath.Join(dir, "seed")
	if err := os.MkdirAll(src, 0o700); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"user-data": userData, "meta-data": meta, "vendor-data": nil, "network-config": netcfg} {
		// user-data holds the node's keys: readable by its owner only.
		if err := atomicfile.WriteFile(filepath.Join(src, name), data, 0o600); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, ".seed.iso.tmp")
	cmd := exec.CommandContext(ctx, genisoimage, "-quiet", "-output", tmp, "-volid", "cidata", "-joliet", "-rock",
		filepath.Join(src, "user-data"), filepath.Join(src, "meta-data"), filepath.Join(src, "vendor-data"), filepath.Join(src, "network-config"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("genisoimage: %v: %s", err, out)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "seed.iso"))
}
