package vsphere

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/vmware/govmomi/vim25/types"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/render"
)

// MaxGuestInfo is the largest guestinfo value kisgen writes: well under the 64 KiB that
// VMware Tools and the VMX handle for a single key.
const MaxGuestInfo = 48 * 1024

// Encoding is the guestinfo encoding kisgen uses for every value.
const Encoding = "gzip+base64"

// Keys kisgen sets in a clone's ExtraConfig. The kisgen.* markers are not guestinfo, so
// the guest does not see them.
const (
	KeyUserData       = "guestinfo.userdata"
	KeyMetadata       = "guestinfo.metadata"
	KeyIgnition       = "guestinfo.ignition.config.data"
	KeyAfterburnKargs = "guestinfo.afterburn.initrd.network-kargs"
	KeyCluster        = "kisgen.cluster"
	KeyHost           = "kisgen.host"
)

// encode is gzip then base64, deterministic (no name, no time in the gzip header), with
// the compression render measured sizes with.
func encode(b []byte) string {
	return base64.StdEncoding.EncodeToString(render.Gzip(b))
}

// Network is the static addressing a node gets; the address comes from the plan.
type Network struct {
	PrefixLength int
	Gateway      string
	DNS          []string
}

// Metadata is what cloud-init's VMware datasource reads from guestinfo.metadata.
type Metadata struct {
	InstanceID    string     `json:"instance-id,omitempty"`
	LocalHostname string     `json:"local-hostname"`
	Network       *NetworkV2 `json:"network,omitempty"`
	// CleanupGuestinfo are the guestinfo keys (without "guestinfo.") the datasource
	// overwrites once it has read them: the user-data holds the node's private keys, which
	// would otherwise stay readable by anyone allowed to read the VM's configuration and by
	// any process in the guest. cloud-init 22.4 reads "redact" first and this key when
	// there is none; every release with the datasource reads this one.
	CleanupGuestinfo []string `json:"cleanup-guestinfo,omitempty"`
}

// CleanedUp are the guestinfo keys cloud-init clears after reading them.
var CleanedUp = []string{"userdata"}

// NetworkV2 is cloud-init's network-config version 2 (netplan's format).
type NetworkV2 struct {
	Version   int                 `json:"version"`
	Ethernets map[string]Ethernet `json:"ethernets"`
}

// Ethernet is one interface of a network-config v2.
type Ethernet struct {
	Match       Match        `json:"match"`
	Addresses   []string     `json:"addresses"`
	Routes      []Route      `json:"routes,omitempty"`
	Nameservers *Nameservers `json:"nameservers,omitempty"`
}

// Match selects an interface by MAC address.
type Match struct {
	MACAddress string `json:"macaddress"`
}

// Route is a static route.
type Route struct {
	To  string `json:"to"`
	Via string `json:"via"`
}

// Nameservers are the DNS servers.
type Nameservers struct {
	Addresses []string `json:"addresses"`
}

// addresses are the node's plan addresses with the prefix length: ip, and internal ip
// when it differs.
func addresses(n *plan.Node, prefix int) []string {
	out := []string{fmt.Sprintf("%s/%d", n.IP, prefix)}
	if n.InternalIP.IsValid() && n.InternalIP != n.IP {
		out = append(out, fmt.Sprintf("%s/%d", n.InternalIP, prefix))
	}
	return out
}

// metadataFor is the node's cloud-init metadata: its hostname, and its plan address on
// the NIC with the given MAC. cloud-init renames that NIC to eth0, the key below.
func metadataFor(n *plan.Node, mac string, net Network, instanceID string) ([]byte, error) {
	eth := Ethernet{Match: Match{MACAddress: strings.ToLower(mac)}, Addresses: addresses(n, net.PrefixLength)}
	if net.Gateway != "" {
		// cloud-init 22.4 does not know `to: default`.
		to := "0.0.0.0/0"
		if gw, err := netip.ParseAddr(net.Gateway); err == nil && gw.Is6() {
			to = "::/0"
		}
		eth.Routes = []Route{{To: to, Via: net.Gateway}}
	}
	if len(net.DNS) > 0 {
		eth.Nameservers = &Nameservers{Addresses: net.DNS}
	}
	md := Metadata{InstanceID: instanceID, LocalHostname: n.Host, Network: &NetworkV2{Version: 2, Ethernets: map[string]Ethernet{"eth0": eth}},
		CleanupGuestinfo: CleanedUp}
	return json.Marshal(md)
}

// KargsInterface is the name the afterburn kernel arguments give the node's NIC.
const KargsInterface = "kisgen0"

// afterburnKargs are the dracut network arguments Flatcar's and Fedora CoreOS's initrd
// come up with (for Ignition to fetch remote resources; Fedora CoreOS keeps them): the NIC
// with the given MAC named KargsInterface, the plan's ip (and internal ip when it differs)
// on it with the gateway, and the DNS servers. Naming the NIC by its MAC is what lets two
// ip= arguments put two addresses on one interface; dracut's ip= DNS fields hold two
// servers, nameserver= any number.
func afterburnKargs(n *plan.Node, mac string, net Network) string {
	mask := prefixMask(netip.PrefixFrom(n.IP, net.PrefixLength))
	args := []string{
		"ifname=" + KargsInterface + ":" + strings.ToLower(mac),
		fmt.Sprintf("ip=%s::%s:%s:%s:%s:none", n.IP, net.Gateway, mask, n.Host, KargsInterface),
	}
	if n.InternalIP.IsValid() && n.InternalIP != n.IP {
		args = append(args, fmt.Sprintf("ip=%s:::%s::%s:none", n.InternalIP, mask, KargsInterface))
	}
	for _, d := range net.DNS {
		args = append(args, "nameserver="+d)
	}
	return strings.Join(args, " ")
}

func prefixMask(p netip.Prefix) string {
	if !p.Addr().Is4() {
		return fmt.Sprint(p.Bits())
	}
	m := uint32(0xffffffff) << (32 - p.Bits())
	if p.Bits() == 0 {
		m = 0
	}
	return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&0xff, m>>8&0xff, m&0xff)
}

// userDataOptions are the guestinfo keys carrying a node's user-data. A value over
// MaxGuestInfo is refused with ErrUserDataTooLarge.
func userDataOptions(m providers.Machine, net Network) ([]types.BaseOptionValue, error) {
	value := encode(m.UserData)
	if len(value) > MaxGuestInfo {
		return nil, fmt.Errorf("%w: node %s: its user-data is %d bytes, %d once gzip+base64 encoded; kisgen keeps a guestinfo value under %d (VMware handles at most 64 KiB per key): move large files out of the user-data (e.g. to the binaries mirror)",
			providers.ErrUserDataTooLarge, m.Node.Host, len(m.UserData), len(value), MaxGuestInfo)
	}
	if m.Format == plan.FormatIgnition {
		return options(map[string]string{
			KeyIgnition:               value,
			KeyIgnition + ".encoding": Encoding,
		}), nil
	}
	return options(map[string]string{
		KeyUserData:               value,
		KeyUserData + ".encoding": Encoding,
	}), nil
}

// metadataOptions are the guestinfo keys that depend on the clone's MAC: cloud-init's
// metadata, and for Ignition the afterburn kernel arguments.
func metadataOptions(m providers.Machine, mac string, net Network, instanceID string) ([]types.BaseOptionValue, error) {
	md, err := metadataFor(m.Node, mac, net, instanceID)
	if err != nil {
		return nil, err
	}
	kv := map[string]string{KeyMetadata: encode(md), KeyMetadata + ".encoding": Encoding}
	if m.Format == plan.FormatIgnition {
		kv[KeyAfterburnKargs] = afterburnKargs(m.Node, mac, net)
	}
	return options(kv), nil
}

// options turns a map into sorted ExtraConfig entries.
func options(kv map[string]string) []types.BaseOptionValue {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.BaseOptionValue, len(keys))
	for i, k := range keys {
		out[i] = &types.OptionValue{Key: k, Value: kv[k]}
	}
	return out
}

// extraConfig reads string ExtraConfig entries into a map.
func extraConfig(opts []types.BaseOptionValue) map[string]string {
	out := map[string]string{}
	for _, o := range opts {
		if v := o.GetOptionValue(); v != nil {
			if s, ok := v.Value.(string); ok {
				out[v.Key] = s
			}
		}
	}
	return out
}
