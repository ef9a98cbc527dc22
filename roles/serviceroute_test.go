package roles_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/roles"
)

// TestServiceRouteCoversTheServiceRange runs each Kubernetes node's kisgen-service-route
// against a stubbed `ip`: the route to the Service range goes through the interface that
// holds the node's internal IP (a veth-style name@peer included), with that IP as source;
// a rerun issues the same idempotent `ip route replace`; a node whose internal IP is on no
// interface fails with the reason. The unit orders it before kube-proxy.
func TestServiceRouteCoversTheServiceRange(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	p, nodes := model(t, "minimal.yaml")
	for _, host := range []string{"master1", "worker1"} {
		n := nodes[host]
		t.Run(host, func(t *testing.T) {
			if !slices.Contains(n.Expect.Units, "kisgen-service-route.service") {
				t.Fatalf("%s does not start kisgen-service-route.service: %v", host, n.Expect.Units)
			}
			var unit string
			for _, u := range n.Units {
				if u.Name == "kisgen-service-route.service" {
					unit = u.Content
				}
			}
			for _, want := range []string{"Before=kubelet.service kube-proxy.service", "Type=oneshot", "RemainAfterExit=yes", "ExecStart=" + roles.ServiceRouteScript} {
				if !strings.Contains(unit, want+"\n") {
					t.Errorf("unit lacks %q:\n%s", want, unit)
				}
			}
			script := filepath.Join(t.TempDir(), "kisgen-service-route")
			writeFile(t, script, file(t, n, roles.ServiceRouteScript).Content, 0o755)
			ip := p.Node(host).InternalIP.String()
			run := func(addrs string) (string, string, error) {
				dir := t.TempDir()
				calls := filepath.Join(dir, "calls")
				bin := stubs(t, filepath.Join(dir, "bin"), shellTools, map[string]string{
					"ip": `if [[ $1 == -o ]]; then printf '%s\n' "` + addrs + `"; else echo "ip $*" >>` + calls + `; fi`,
				})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, script)
				cmd.Env = []string{"PATH=" + bin, "KISGEN_ROUTE_WAIT_SECONDS=1"}
				out, err := cmd.CombinedOutput()
				got, _ := os.ReadFile(calls)
				return string(got), string(out), err
			}
			addrs := `1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever
2: ens3    inet 10.0.2.15/24 brd 10.0.2.255 scope global dynamic ens3\       valid_lft 86000sec
3: eth1@if7    inet ` + ip + `/24 brd 10.10.0.255 scope global eth1\       valid_lft forever`
			want := "ip route replace " + p.Network.ServiceCIDR.String() + " dev eth1 src " + ip + "\n"
			for i := range 2 { // the second run is a reboot: the same idempotent call
				calls, out, err := run(addrs)
				if err != nil || calls != want {
					t.Fatalf("run %d: %v, ip calls %q, want %q\n%s", i+1, err, calls, want, out)
				}
			}
			calls, out, err := run(`2: ens3    inet 10.0.2.15/24 scope global ens3`)
			if err == nil || calls != "" || !strings.Contains(out, "no interface holds the internal IP "+ip) {
				t.Errorf("without the internal IP: %v, ip calls %q\n%s", err, calls, out)
			}
		})
	}
	t.Run("in a network namespace without a default route", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("a network namespace needs root")
		}
		unshare := testtool.Require(t, "unshare", "util-linux")
		testtool.Require(t, "ip", "iproute2")
		n := nodes["worker1"]
		script := filepath.Join(t.TempDir(), "kisgen-service-route")
		writeFile(t, script, file(t, n, roles.ServiceRouteScript).Content, 0o755)
		ip, svc := p.Node("worker1").InternalIP.String(), p.ServiceIP(1).String()
		// A veth end holds the internal IP, as a node's only interface would; no default route.
		prog := `set -e
ip link add kg0 type veth peer name kg1
ip addr add ` + ip + `/24 dev kg0
ip link set kg0 up
ip link set kg1 up
if ip route get ` + svc + ` 2>/dev/null; then echo "reachable before the route"; exit 1; fi
` + script + `
` + script + `
ip route get ` + svc
		out, err := exec.Command(unshare, "--net", "bash", "-c", prog).CombinedOutput()
		if err != nil || !strings.Contains(string(out), svc+" dev kg0 src "+ip) {
			t.Errorf("the Service IP %s is not routed through kg0 from %s: %v\n%s", svc, ip, err, out)
		}
	})
	if slices.Contains(nodes["etcd1"].Expect.Units, "kisgen-service-route.service") {
		t.Error("an etcd-only node runs no Services client: it needs no route")
	}
}
