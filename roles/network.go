package roles

import (
	"encoding/json"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// BridgeConfPath is the bridge provider's CNI configuration.
const BridgeConfPath = CNIConfDir + "/10-kisgen-bridge.conflist"

// network: the per-node part of the pod network. Calico installs its CNI configuration
// itself (its DaemonSet, applied by the first master); masters get calicoctl's
// configuration. The bridge provider is configured here: the node's pod subnet on the
// cni0 bridge, routes to the others.
func (b *builder) network() error {
	if calicoEnabled(b.p) && b.n.Has(plan.RoleMaster) {
		// The guide puts calicoctl on every master.
		b.artifact(CompCalicoctl)
		cfg, err := calicoctlFile()
		if err != nil {
			return err
		}
		if err := b.file(CalicoctlConfigPath, 0o644, "calicoctl configuration (Kubernetes datastore, admin kubeconfig)", cfg); err != nil {
			return err
		}
	}
	sub, ok := b.c.subnets[b.n.Host]
	if !ok {
		return nil
	}
	conf := cniConfList{CNIVersion: "1.0.0", Name: "kisgen-bridge", Plugins: []any{
		cniBridge{Type: "bridge", Bridge: "cni0", IsGateway: true, HairpinMode: true,
			IPAM: cniIPAM{Type: "host-local", Ranges: [][]cniRange{{{Subnet: sub.String()}}}, Routes: []cniRoute{{Dst: "0.0.0.0/0"}}, DataDir: "/var/lib/cni/networks"}},
		cniPortMap{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
	}}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	if err := b.file(BridgeConfPath, 0o644, "bridge pod network (CNI)", string(data)+"\n"); err != nil {
		return err
	}
	var routes strings.Builder
	for _, r := range b.c.routes {
		if r.host == b.n.Host {
			continue
		}
		routes.WriteString(r.subnet.String() + "\t" + r.via.String() + "\t" + r.host + "\n")
	}
	if err := b.file(BridgeRoutesPath, 0o644, "routes to the other nodes' pod subnets", routes.String()); err != nil {
		return err
	}
	if err := b.unit("kisgen-bridge-routes.service", "bridge pod network routes", "kisgen-bridge-routes.service", b.unitData("", nil), true); err != nil {
		return err
	}
	b.wait = append(b.wait, "kisgen-bridge-routes.service")
	return nil
}
