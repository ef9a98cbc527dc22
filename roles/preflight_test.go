package roles_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"

	"github.com/kisgen/kisgen/roles"
)

// fakeNode is a fake root for the pre-flight script: /proc, /sys and /etc files as a
// healthy 2-CPU, 2 GiB worker would have them, and the commands it runs as stubs.
type fakeNode struct {
	root, bin, state string
	ss, df, swapoff  string // stub bodies
	missing          []string
}

func newFakeNode(t *testing.T, n *roles.Node) *fakeNode {
	dir := t.TempDir()
	f := &fakeNode{root: filepath.Join(dir, "root"), bin: filepath.Join(dir, "bin"), state: filepath.Join(dir, "state")}
	writeRoot(t, f.root, n)
	for path, content := range map[string]string{
		"proc/1/comm":                      "systemd\n",
		"proc/sys/kernel/hostname":         n.Host + "\n",
		"proc/swaps":                       "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
		"proc/cpuinfo":                     "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\nmodel name\t: x\n",
		"proc/meminfo":                     "MemTotal:        2030000 kB\nMemFree:          900000 kB\n",
		"sys/fs/cgroup/cgroup.controllers": "cpu memory pids\n",
		"etc/os-release":                   "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
		"proc/net/route":                   routeTable,
	} {
		writeFile(t, filepath.Join(f.root, path), content, 0o644)
	}
	f.ss = "echo 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:((\"sshd\",pid=1,fd=3))'"
	f.df = "printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/vda 300000000 1000000 250000000 1%% /\\n'"
	f.swapoff = "printf 'Filename\\tType\\tSize\\tUsed\\tPriority\\n' > \"$KISGEN_ROOT/proc/swaps\""
	return f
}

// routeTable is /proc/net/route with a default route (via 10.10.0.1) and the node's subnet.
const routeTable = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
	"eth0\t00000000\t010A0A0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
	"eth0\t000A0A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"

// run runs the node's pre-flight script; it returns the exit status and the status file.
func (f *fakeNode) run(t *testing.T) (int, roles.Status, string) {
	t.Helper()
	scripts := map[string]string{"ss": f.ss, "df": f.df, "swapoff": f.swapoff}
	for _, e := range []string{"iptables", "iptables-save", "iptables-restore", "ip", "nsenter", "mount", "umount", "modprobe", "sysctl", "systemctl", "conntrack"} {
		scripts[e] = "exit 0"
	}
	for _, m := range f.missing {
		delete(scripts, m)
	}
	_ = os.RemoveAll(f.bin)
	stubs(t, f.bin, shellTools, scripts)
	cmd := exec.Command(filepath.Join(f.root, roles.BinDir, "kisgen-preflight"))
	cmd.Env = envWith(os.Environ(), "PATH="+f.bin, "KISGEN_ROOT="+f.root,
		"KISGEN_LIB="+filepath.Join(f.root, roles.LibPath), "KISGEN_NODE_ENV="+filepath.Join(f.root, roles.NodeEnvPath),
		"KISGEN_STATE_DIR="+f.state, "KISGEN_STATUS="+filepath.Join(f.state, "status.json"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, readStatus(t, filepath.Join(f.state, "status.json")), out.String()
}

// readStatus parses a status file strictly with the schema `kisgen verify` reads.
func readStatus(t *testing.T, path string) roles.Status {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s roles.Status
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("status file %s is not a roles.Status: %v\n%s", path, err, data)
	}
	return s
}

func check(s roles.Status, name string) (roles.Check, bool) {
	for _, c := range s.Preflight {
		if c.Name == name {
			return c, true
		}
	}
	return roles.Check{}, false
}

func TestPreflightOnFakeRoot(t *testing.T) {
	testtool.Require(t, "bash", "bash")
	_, nodes := model(t, "minimal.yaml")
	worker, etcd := nodes["worker1"], nodes["etcd1"]

	tests := []struct {
		name  string
		node  *roles.Node
		setup func(f *fakeNode)
		// want: exit status, the check that decides, whether it passed, a word of its detail
		code   int
		check  string
		ok     bool
		detail string
	}{
		{name: "a healthy worker passes", node: worker, check: "hostname", ok: true, detail: "worker1"},
		{name: "a healthy etcd node passes without Kubernetes checks", node: etcd, check: "port 2379/tcp free", ok: true, detail: "etcd"},
		{name: "a wrong hostname is fatal", node: worker, code: 3, check: "hostname", detail: `"other"`,
			setup: func(f *fakeNode) { writeFile(t, filepath.Join(f.root, "proc/sys/kernel/hostname"), "other\n", 0o644) }},
		{name: "init other than systemd is fatal", node: worker, code: 3, check: "init is systemd", detail: "openrc",
			setup: func(f *fakeNode) { writeFile(t, filepath.Join(f.root, "proc/1/comm"), "openrc\n", 0o644) }},
		{name: "a missing executable is fatal", node: worker, code: 3, check: "required executables", detail: "missing: nsenter",
			setup: func(f *fakeNode) { f.missing = []string{"nsenter"} }},
		{name: "a missing conntrack only warns", node: worker, check: "executable conntrack", detail: "conntrack is missing",
			setup: func(f *fakeNode) { f.missing = []string{"conntrack"} }},
		{name: "cgroup v1 is fatal on a Kubernetes node", node: worker, code: 3, check: "cgroup v2", detail: "cgroup v1",
			setup: func(f *fakeNode) { _ = os.Remove(filepath.Join(f.root, "sys/fs/cgroup/cgroup.controllers")) }},
		{name: "a port held by another process is fatal", node: worker, code: 3, check: "port 10250/tcp free", detail: "nginx",
			setup: func(f *fakeNode) {
				f.ss = `echo 'LISTEN 0 128 *:10250 *:* users:(("nginx",pid=7,fd=3))'`
			}},
		{name: "a port held by the node's own unit passes (rerun after reboot)", node: worker, check: "port 10250/tcp free", ok: true, detail: "already running",
			setup: func(f *fakeNode) {
				f.ss = `echo 'LISTEN 0 128 *:10250 *:* users:(("kubelet",pid=7,fd=3))'`
			}},
		{name: "swap is turned off", node: worker, check: "swap off", ok: true, detail: "turned off",
			setup: func(f *fakeNode) {
				writeFile(t, filepath.Join(f.root, "proc/swaps"), "Filename Type Size Used Priority\n/dev/vda2 partition 1000 0 -2\n", 0o644)
			}},
		{name: "swap that cannot be turned off is fatal", node: worker, code: 3, check: "swap off", detail: "swapoff -a failed",
			setup: func(f *fakeNode) {
				writeFile(t, filepath.Join(f.root, "proc/swaps"), "Filename Type Size Used Priority\n/dev/vda2 partition 1000 0 -2\n", 0o644)
				f.swapoff = "exit 1"
			}},
		{name: "a nearly full disk is fatal", node: worker, code: 3, check: "disk space on /", detail: "grow the disk",
			setup: func(f *fakeNode) {
				f.df = "printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/vda 300000 290000 10000 99%% /\\n'"
			}},
		{name: "a disk under the advised size only warns", node: worker, check: "disk space on /", detail: "advised",
			setup: func(f *fakeNode) {
				f.df = "printf 'Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/vda 3000000 1000000 2000000 33%% /\\n'"
			}},
		{name: "a Calico node with a default route passes", node: worker, check: "default route", ok: true},
		{name: "a Calico node without a default route is warned", node: worker, check: "default route", detail: "no route to host",
			setup: func(f *fakeNode) {
				writeFile(t, filepath.Join(f.root, "proc/net/route"), strings.Join(strings.SplitAfter(routeTable, "\n")[:1], "")+
					"eth0\t000A0A0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", 0o644)
			}},
		{name: "low memory only warns", node: worker, check: "memory", detail: "advised",
			setup: func(f *fakeNode) {
				writeFile(t, filepath.Join(f.root, "proc/meminfo"), "MemTotal:         500000 kB\n", 0o644)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t, tc.node)
			if tc.setup != nil {
				tc.setup(f)
			}
			code, st, out := f.run(t)
			if code != tc.code {
				t.Fatalf("exit status %d, want %d\n%s", code, tc.code, out)
			}
			wantPhase := roles.PhasePreflight
			if tc.code != 0 {
				wantPhase = roles.PhaseFailed
				if !strings.Contains(st.Error, tc.check) {
					t.Errorf("status error %q does not name the check %q", st.Error, tc.check)
				}
			}
			if st.Phase != wantPhase || st.Host != tc.node.Host || len(st.Roles) == 0 || st.ConfigSHA256 != tc.node.ConfigSHA256 {
				t.Errorf("status = phase %q host %q roles %v config %q, want phase %q host %q config %q", st.Phase, st.Host, st.Roles, st.ConfigSHA256, wantPhase, tc.node.Host, tc.node.ConfigSHA256)
			}
			c, ok := check(st, tc.check)
			if !ok {
				t.Fatalf("no check %q in %+v", tc.check, st.Preflight)
			}
			if c.OK != tc.ok || !strings.Contains(c.Detail, tc.detail) {
				t.Errorf("check %q = ok %v detail %q, want ok %v detail containing %q", tc.check, c.OK, c.Detail, tc.ok, tc.detail)
			}
			if tc.code == 0 {
				for _, c := range st.Preflight {
					if c.Fatal && !c.OK {
						t.Errorf("fatal check %q failed but the script passed", c.Name)
					}
				}
			}
		})
	}
}
