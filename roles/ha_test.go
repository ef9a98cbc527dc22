package roles_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/roles"
)

// TestVirtualIPOnTheMasters: with master.virtual_ip, every master (and only masters) runs
// HAProxy in front of every API server and keepalived holding the address, the API server
// keeps to the master's own address, and the pre-flight check requires both programs.
// HAProxy's and keepalived's own parsers accept the configurations (haproxy -c,
// keepalived --config-test), with a negative control for each.
func TestVirtualIPOnTheMasters(t *testing.T) {
	haproxy := testtool.Require(t, "haproxy", "haproxy")
	keepalived := testtool.Require(t, "keepalived", "keepalived")
	_, nodes := model(t, "ha.yaml")
	for host, n := range nodes {
		isMaster := strings.HasPrefix(host, "master")
		if hasFile(n, roles.HAProxyConfig) != isMaster || hasFile(n, roles.KeepalivedConfig) != isMaster {
			t.Errorf("%s: HAProxy/keepalived configuration present = %v, want it on masters only", host, !isMaster)
		}
	}
	for i, host := range []string{"master1", "master2"} {
		n := nodes[host]
		hp := file(t, n, roles.HAProxyConfig).Content
		for _, want := range []string{"bind 10.10.0.20:6443", "bind 127.0.0.1:6443", "server master1 10.10.0.21:6443", "server master2 10.10.0.22:6443",
			"http-check send meth GET uri /readyz", "ca-file " + roles.CACert,
			"bind 127.0.0.1:6445", "if { nbsrv(" + roles.HAProxyBackend + ") ge 1 }",
			"timeout connect 10s", "option redispatch", "on-marked-down shutdown-sessions", "inter 10s fastinter 2s"} {
			if !strings.Contains(hp, want) {
				t.Errorf("%s haproxy.cfg lacks %q:\n%s", host, want, hp)
			}
		}
		ka := file(t, n, roles.KeepalivedConfig).Content
		self, peer := "10.10.0.21", "10.10.0.22"
		if i == 1 {
			self, peer = peer, self
		}
		for _, want := range []string{"unicast_src_ip " + self, "unicast_peer {\n        " + peer + "\n    }", "10.10.0.20/32 dev ${KISGEN_INTERFACE}",
			"priority 100\n", "weight -50\n", "include " + roles.KeepalivedInterfaceFile, "script \"" + roles.APICheckScript + "\""} {
			if !strings.Contains(ka, want) {
				t.Errorf("%s keepalived.conf lacks %q:\n%s", host, want, ka)
			}
		}
		if api := unit(t, n, "kube-apiserver.service").Content; !strings.Contains(api, "--bind-address="+self) {
			t.Errorf("%s: the API server binds every address; HAProxy needs the load balancer's port on the virtual IP", host)
		}
		env := file(t, n, roles.NodeEnvPath).Content
		if !strings.Contains(env, "haproxy") || !strings.Contains(env, "keepalived") {
			t.Errorf("%s: the pre-flight check does not require haproxy and keepalived", host)
		}
		// The install waits for this master's own API server before it starts HAProxy,
		// which holds 127.0.0.1's port: it must ask the address the API server binds.
		if want := "KISGEN_APISERVER_URL='https://" + self + ":6443'"; !strings.Contains(env, want) {
			t.Errorf("%s: node env lacks %s: the install would wait for an API server on 127.0.0.1, where none listens", host, want)
		}
		for _, u := range []string{roles.HAProxyUnit, roles.KeepalivedUnit} {
			if !strings.Contains(unit(t, n, u).Content, "ExecStart=") {
				t.Errorf("%s: no %s", host, u)
			}
		}

		// The programs' own checks, on the files as rendered (the CA file and the
		// interface definition kisgen-vip-interface writes at start, in a scratch dir).
		dir := t.TempDir()
		ca := filepath.Join(dir, "ca.crt")
		must(t, os.WriteFile(ca, []byte(file(t, n, roles.CACert).Content), 0o644))
		iface := filepath.Join(dir, "iface.conf")
		must(t, os.WriteFile(iface, []byte("$KISGEN_INTERFACE="+hostInterface(t)+"\n"), 0o644))
		hpFile := filepath.Join(dir, "haproxy.cfg")
		must(t, os.WriteFile(hpFile, []byte(strings.ReplaceAll(hp, roles.CACert, ca)), 0o644))
		if out, err := exec.Command(haproxy, "-c", "-f", hpFile).CombinedOutput(); err != nil {
			t.Errorf("%s: haproxy -c: %v\n%s", host, err, out)
		}
		// keepalived asks HAProxy's own answer, not an API server through it: a slow API
		// server must not cost the master its virtual IP.
		if chk := file(t, n, roles.APICheckScript).Content; !strings.Contains(chk, "http://127.0.0.1:6445/healthz") {
			t.Errorf("%s: kisgen-api-check does not ask HAProxy's health answer:\n%s", host, chk)
		}
		check := filepath.Join(dir, "check")
		must(t, os.WriteFile(check, []byte(file(t, n, roles.APICheckScript).Content), 0o755))
		ka = strings.ReplaceAll(strings.ReplaceAll(ka, roles.KeepalivedInterfaceFile, iface), roles.APICheckScript, check)
		kaFile := filepath.Join(dir, "keepalived.conf")
		must(t, os.WriteFile(kaFile, []byte(ka), 0o644))
		if out, err := exec.Command(keepalived, "--config-test", "--use-file", kaFile).CombinedOutput(); err != nil || strings.Contains(string(out), "WARNING") {
			t.Errorf("%s: keepalived --config-test: %v\n%s", host, err, out)
		}
		// Negative controls: the same checks refuse a broken file.
		bad := filepath.Join(dir, "bad.cfg")
		must(t, os.WriteFile(bad, []byte(strings.Replace(strings.ReplaceAll(hp, roles.CACert, ca), "balance roundrobin", "balance nonsense", 1)), 0o644))
		if err := exec.Command(haproxy, "-c", "-f", bad).Run(); err == nil {
			t.Error("haproxy -c accepts an unknown balance algorithm: the check proves nothing")
		}
		must(t, os.WriteFile(bad, []byte(strings.Replace(ka, "advert_int 1", "advert_int nonsense", 1)), 0o644))
		if out, err := exec.Command(keepalived, "--config-test", "--use-file", bad).CombinedOutput(); err == nil && !strings.Contains(string(out), "advert_int") {
			t.Errorf("keepalived --config-test accepts advert_int nonsense: the check proves nothing\n%s", out)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hostInterface is an interface of this machine that is up and not loopback: keepalived's
// configuration test checks that the interface exists.
func hostInterface(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	must(t, err)
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 && i.Flags&net.FlagUp != 0 {
			return i.Name
		}
	}
	t.Skip("this machine has no network interface besides loopback for keepalived's configuration test")
	return ""
}

// TestInstallAsksTheMastersOwnAPIServer: the install's health check of kube-apiserver
// asks the URL in the node's env, which is 127.0.0.1 without a virtual IP and no URL on
// a node that is no master.
func TestInstallAsksTheMastersOwnAPIServer(t *testing.T) {
	_, nodes := model(t, "minimal.yaml")
	for host, n := range nodes {
		env := file(t, n, roles.NodeEnvPath).Content
		want := "KISGEN_APISERVER_URL=''"
		if strings.HasPrefix(host, "master") {
			want = "KISGEN_APISERVER_URL='https://127.0.0.1:6443'"
		}
		if !strings.Contains(env, want) {
			t.Errorf("%s: node env lacks %s:\n%s", host, want, env)
		}
	}
	boot := file(t, nodes["master1"], roles.BinDir+"/kisgen-bootstrap").Content
	if !strings.Contains(boot, `"${KISGEN_APISERVER_URL:-https://127.0.0.1:6443}/readyz"`) {
		t.Error("kisgen-bootstrap's kube-apiserver health check does not ask KISGEN_APISERVER_URL")
	}
}
