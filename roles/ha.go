package roles

import (
	"fmt"
	"hash/crc32"
	"io/fs"
	"strconv"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

// kisgen's own load balancer for the API (master.virtual_ip), for infrastructure without
// one: on every master, HAProxy serves the API on the virtual IP and on 127.0.0.1 and
// forwards to every ready API server; keepalived holds the virtual IP on one master at a
// time and moves it when that master stops answering VRRP, or when its HAProxy reaches no
// ready API server while another master's does. Both come from the operating system's
// packages (kisgen's image and Packer templates bake them); the masters' pre-flight check
// requires them.

// Paths of the virtual IP's pieces on a master.
const (
	HAProxyConfig      = "/etc/kisgen/haproxy.cfg"
	HAProxyStatsSocket = "/run/kisgen-haproxy.sock"
	// HAProxyBackend is the backend of API servers in HAProxyConfig.
	HAProxyBackend   = "kube-apiservers"
	KeepalivedConfig = "/etc/kisgen/keepalived.conf"
	// KeepalivedInterfaceFile is written at start by VIPInterfaceScript.
	KeepalivedInterfaceFile = "/run/kisgen/keepalived-interface.conf"
	VIPInterfaceScript      = BinDir + "/kisgen-vip-interface"
	APICheckScript          = BinDir + "/kisgen-api-check"
	// HAProxyHealthPort is where HAProxy itself answers, on 127.0.0.1, whether it has a
	// ready API server: keepalived's check asks it (APICheckScript).
	HAProxyHealthPort = 6445
	// HAProxyUnit and KeepalivedUnit are kisgen's units; the distribution's own haproxy
	// and keepalived units are left alone (unconfigured, they do nothing).
	HAProxyUnit    = "kisgen-haproxy.service"
	KeepalivedUnit = "kisgen-keepalived.service"
)

// virtualIPEnabled says whether the plan runs kisgen's load balancer.
func virtualIPEnabled(p *plan.Plan) bool { return p.VirtualIP.IsValid() }

// vrrpRouterID is the cluster's VRRP router id (1–255), from its name: clusters that
// share a network segment get different ids (their VRRP is unicast between their own
// masters anyway).
func vrrpRouterID(name string) int { return int(crc32.ChecksumIEEE([]byte(name))%255) + 1 }

// vrrpPriority is every master's VRRP priority, and vrrpCheckWeight what a failing check
// takes off it. Equal priorities: a VRRP backup takes the address only from a master of
// lower priority, so a master that comes back leaves it where it is, while a master whose
// check fails (100-50) loses it to a healthy one; when every check fails, nobody moves.
const (
	vrrpPriority    = 100
	vrrpCheckWeight = 50
)

type haproxyServer struct{ Name, Address string }

// virtualIP adds HAProxy and keepalived to a master of a plan with a virtual IP.
func (b *builder) virtualIP() error {
	p, n := b.p, b.n
	if !virtualIPEnabled(p) || !n.Has(plan.RoleMaster) {
		return nil
	}
	masters := p.NodesWith(plan.RoleMaster)
	port := strconv.Itoa(p.LoadBalancerPort)
	if p.LoadBalancerPort == HAProxyHealthPort {
		return fmt.Errorf("%w: master.load_balancer's port %d is the port of HAProxy's own health answer on the masters (127.0.0.1:%d): use another port, e.g. 6443",
			ErrUnsupported, p.LoadBalancerPort, HAProxyHealthPort)
	}
	healthPort := strconv.Itoa(HAProxyHealthPort)
	var servers []haproxyServer
	var peers []string
	for _, m := range masters {
		servers = append(servers, haproxyServer{Name: m.Host, Address: m.InternalIP.String() + ":" + strconv.Itoa(kubeAPIServerPort)})
		if m != n {
			peers = append(peers, m.InternalIP.String())
		}
	}
	files := []struct {
		path, tmpl, what string
		mode             fs.FileMode
		data             any
	}{
		{HAProxyConfig, "haproxy.cfg", "HAProxy in front of the API servers", 0o644, map[string]any{
			"VirtualIP": p.VirtualIP.String(), "Port": port, "StatsSocket": HAProxyStatsSocket,
			"CheckInterval": "10s", "CheckFastInterval": "2s", "CheckTimeout": "10s",
			"CAFile": CACert, "Servers": servers, "Backend": HAProxyBackend, "HealthPort": healthPort}},
		{KeepalivedConfig, "keepalived.conf", "keepalived holding the API's virtual IP", 0o644, map[string]any{
			"VirtualIP": p.VirtualIP.String(), "Host": n.Host, "InternalIP": n.InternalIP.String(), "Peers": peers,
			"RouterID": vrrpRouterID(p.Name), "Priority": vrrpPriority, "CheckWeight": vrrpCheckWeight, "CheckScript": APICheckScript,
			"InterfaceFile": KeepalivedInterfaceFile, "InterfaceScript": VIPInterfaceScript}},
		{VIPInterfaceScript, "kisgen-vip-interface", "the virtual IP's interface, found at start", 0o755, map[string]any{
			"InternalIP": n.InternalIP.String(), "InterfaceFile": KeepalivedInterfaceFile}},
		{APICheckScript, "kisgen-api-check", "keepalived's check of the local HAProxy", 0o755, map[string]any{"Port": healthPort}},
	}
	for _, f := range files {
		text, err := templates.Execute(f.tmpl, f.data)
		if err != nil {
			return err
		}
		if f.mode == 0o755 {
			text = templates.CompactScript(text)
		}
		if err := b.add(File{Path: f.path, Mode: f.mode, Content: text, What: f.what}); err != nil {
			return err
		}
	}
	hp := struct {
		unitData
		Check, Start string
	}{b.unitData("kisgen: HAProxy in front of every API server, on the virtual IP "+p.VirtualIP.String(), nil),
		// Backups bind the virtual IP too, before they hold it.
		"/bin/sh -c 'sysctl -q -w net.ipv4.ip_nonlocal_bind=1 && haproxy -c -q -f " + HAProxyConfig + "'",
		"/usr/sbin/haproxy -Ws -f " + HAProxyConfig}
	if err := b.unit(HAProxyUnit, "HAProxy in front of the API servers", HAProxyUnit, hp, true); err != nil {
		return err
	}
	ka := struct {
		unitData
		Interface, Start string
	}{b.unitData("kisgen: keepalived holding the API's virtual IP "+p.VirtualIP.String(), nil),
		VIPInterfaceScript, "/usr/sbin/keepalived --dont-fork --log-console --use-file " + KeepalivedConfig}
	if err := b.unit(KeepalivedUnit, "keepalived holding the virtual IP", KeepalivedUnit, ka, true); err != nil {
		return err
	}
	b.wait = append(b.wait, HAProxyUnit, KeepalivedUnit)
	b.exec = append(b.exec, "haproxy", "keepalived", "curl")
	b.listen(p.LoadBalancerPort, p.VirtualIP.String(), HAProxyUnit)
	b.listen(HAProxyHealthPort, "127.0.0.1", HAProxyUnit)
	return nil
}
