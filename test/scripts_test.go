package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/testtool"
)

// The repository's scripts decide what to install and whether VMs can start. These tests
// run them for real with a PATH of stubs (apt-get, dpkg-query, sudo, id) and the few
// real tools they use, so every branch of the decision runs here: as root, with sudo
// that asks no password, with sudo that asks one, and without apt-get.

func TestScriptsPassShellcheck(t *testing.T) {
	sc := testtool.Require(t, "shellcheck", "shellcheck")
	root := repoRoot(t)
	for _, s := range []string{"scripts/install-deps.sh", "scripts/local-cluster.sh", ".ci/run", "test/e2e/kvm-usable.sh"} {
		if out, err := exec.Command(sc, filepath.Join(root, s)).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", s, err, out)
		}
	}
}

// vmTools are the commands local-cluster.sh checks for, by the package apt-get installs.
var vmTools = map[string]string{"qemu-system-x86": "qemu-system-x86_64", "qemu-utils": "qemu-img", "genisoimage": "genisoimage",
	"mmdebstrap": "mmdebstrap", "e2fsprogs": "mkfs.ext4"}

type host struct {
	root      bool   // id -u says 0
	sudo      string // "" no sudo, "nopasswd", "passwd"
	apt       bool   // apt-get and dpkg-query exist
	installed []string
	tools     bool // the VM tools are on PATH already
}

// stubHost makes a directory for PATH that behaves like h, and returns it with the file
// the stubs log their calls to.
func stubHost(t *testing.T, h host) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	log = filepath.Join(dir, "calls.log")
	for tool, pkg := range map[string]string{"bash": "bash", "awk": "mawk", "dirname": "coreutils", "chmod": "coreutils"} {
		real := testtool.Require(t, tool, pkg)
		if err := os.Symlink(real, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	script := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	uid := "1000"
	if h.root {
		uid = "0"
	}
	script("id", `echo `+uid)
	switch h.sudo {
	case "nopasswd":
		script("sudo", `echo "sudo $*" >>`+log+`; [ "$1" = -n ] && shift; "$@"`)
	case "passwd":
		script("sudo", `echo "sudo $*" >>`+log+`; [ "$1" = -n ] && exit 1; "$@"`)
	}
	if h.apt {
		installed := " " + strings.Join(h.installed, " ") + " "
		script("dpkg-query", `shift 2; for p; do case "`+installed+`" in *" $p "*) echo "ii  $p";; esac; done`)
		// A real install puts the packages' commands on PATH.
		var mk strings.Builder
		for pkg, tool := range vmTools {
			mk.WriteString(`case " $* " in *" ` + pkg + ` "*) printf '#!/bin/sh\n' >` + filepath.Join(bin, tool) + `; chmod +x ` + filepath.Join(bin, tool) + `;; esac; `)
		}
		script("apt-get", `echo "apt-get $*" >>`+log+`; `+mk.String())
	}
	if h.tools {
		for _, tool := range vmTools {
			script(tool, "")
		}
	}
	return bin, log
}

// runScript runs a repository script with PATH set to path only.
func runScript(t *testing.T, path, script string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(repoRoot(t), script), args...)
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", script, err)
		}
		code = ee.ExitCode()
	}
	return code, string(out)
}

func calls(t *testing.T, log string) string {
	t.Helper()
	data, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

func TestInstallDepsDecides(t *testing.T) {
	const install = "apt-get install -y -q --no-install-recommends"
	tests := []struct {
		name      string
		host      host
		env       []string
		code      int
		calls     []string // each must be in the calls log, in order
		noCalls   bool
		outputHas string
	}{
		{name: "everything installed: nothing to do", host: host{apt: true, root: true, installed: testSet(t)},
			noCalls: true},
		{name: "root installs only what is missing", host: host{apt: true, root: true, installed: []string{"make", "bash", "openssl"}},
			calls: []string{"apt-get update -q", install + " openssh-client openssh-server cloud-init"}},
		{name: "sudo without a password installs", host: host{apt: true, sudo: "nopasswd"},
			calls: []string{"sudo -n true", "sudo -n apt-get update -q", "sudo -n " + install + " make openssh-client"}},
		{name: "sudo that asks a password: print the command and stop", host: host{apt: true, sudo: "passwd"}, code: 1,
			calls: []string{"sudo -n true"}, outputHas: "  sudo " + install + " make openssh-client"},
		{name: "no sudo at all: print the command and stop", host: host{apt: true}, code: 1, noCalls: true,
			outputHas: "  sudo " + install + " make"},
		{name: "KISGEN_NO_INSTALL only reports", host: host{apt: true, root: true}, env: []string{"KISGEN_NO_INSTALL=1"}, code: 1, noCalls: true,
			outputHas: "cannot install them"},
		{name: "no apt-get: nothing can be installed here", host: host{root: true}, code: 3, noCalls: true, outputHas: "no apt-get here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, log := stubHost(t, tt.host)
			code, out := runScript(t, path, "scripts/install-deps.sh", tt.env, "test")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, out)
			}
			got := calls(t, log)
			if tt.noCalls && strings.Contains(got, "apt-get") {
				t.Errorf("apt-get ran:\n%s", got)
			}
			rest := got
			for _, c := range tt.calls {
				i := strings.Index(rest, c)
				if i < 0 {
					t.Fatalf("no call %q (in order) in:\n%s", c, got)
				}
				rest = rest[i+len(c):]
			}
			if !strings.Contains(out, tt.outputHas) {
				t.Errorf("output lacks %q:\n%s", tt.outputHas, out)
			}
		})
	}
	t.Run("an unknown set is a usage error", func(t *testing.T) {
		path, _ := stubHost(t, host{apt: true, root: true})
		if code, out := runScript(t, path, "scripts/install-deps.sh", nil, "tset"); code != 2 || !strings.Contains(out, "unknown set tset") {
			t.Errorf("exit %d: %s", code, out)
		}
	})
	t.Run("the e2e set holds the VM set", func(t *testing.T) {
		path, _ := stubHost(t, host{})
		_, vm := runScript(t, path, "scripts/install-deps.sh", nil, "--list", "vm")
		_, e2e := runScript(t, path, "scripts/install-deps.sh", nil, "--list", "e2e")
		if !strings.HasPrefix(e2e, vm) || len(strings.Fields(vm)) != len(vmTools) {
			t.Errorf("vm:\n%s\ne2e:\n%s", vm, e2e)
		}
	})
}

// TestLocalClusterInstallsOrStops runs what `make local-cluster` does before it builds
// anything (scripts/local-cluster.sh deps, the first step of up): install the VM packages
// when it can, else print the one command and stop with an error, and render only where
// nothing can be installed. It once rendered only, silently, wherever qemu was missing.
func TestLocalClusterInstallsOrStops(t *testing.T) {
	tests := []struct {
		name      string
		host      host
		code      int
		installs  bool
		outputHas []string
	}{
		{name: "tools there: nothing to install", host: host{apt: true, tools: true}, outputHas: []string{"local VMs can start here"}},
		{name: "root installs and boots", host: host{apt: true, root: true}, installs: true,
			outputHas: []string{"local VMs need: qemu-system-x86 qemu-utils genisoimage mmdebstrap", "local VMs can start here"}},
		{name: "sudo without a password installs and boots", host: host{apt: true, sudo: "nopasswd"}, installs: true, outputHas: []string{"local VMs can start here"}},
		{name: "sudo with a password: the command, then stop", host: host{apt: true, sudo: "passwd"}, code: 1,
			outputHas: []string{"sudo apt-get install -y -q --no-install-recommends qemu-system-x86 qemu-utils genisoimage mmdebstrap", "then `make local-cluster` again"}},
		{name: "no apt-get: VMs cannot start, render only", host: host{root: true}, code: 3,
			outputHas: []string{"No local VM can start here", "no apt-get"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, log := stubHost(t, tt.host)
			code, out := runScript(t, path, "scripts/local-cluster.sh", []string{"KISGEN_LOCAL_DIR=" + t.TempDir()}, "deps")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, out)
			}
			for _, want := range tt.outputHas {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if got := strings.Contains(calls(t, log), "apt-get install"); got != tt.installs {
				t.Errorf("installed: %v, want %v\n%s", got, tt.installs, calls(t, log))
			}
		})
	}
}

// testSet is the test set's package list as the script itself prints it (--list).
func testSet(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command(filepath.Join(repoRoot(t), "scripts", "install-deps.sh"), "--list", "test").Output()
	if err != nil {
		t.Fatalf("install-deps.sh --list test: %v", err)
	}
	return strings.Fields(string(out))
}
