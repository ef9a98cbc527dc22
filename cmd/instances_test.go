package cmd

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/providers/vsphere"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// vcsim starts govmomi's vCenter simulator for `kisgen provision vsphere`, with the
// GOVC_* environment pointing at it, and plays VMware Tools: every clone of cluster that
// is powered on reports guestIP as its address.
func vcsim(t *testing.T, cluster, guestIP string) {
	t.Helper()
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	model.Service.TLS = new(tls.Config)
	server := model.Service.NewServer()
	u := *server.URL
	pass, _ := u.User.Password()
	env := map[string]string{"GOVC_URL": "https://" + u.Host + "/sdk", "GOVC_USERNAME": u.User.Username(), "GOVC_PASSWORD": pass, "GOVC_INSECURE": "1"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c, logout, err := vsphere.FromEnv(func(k string) string { return env[k] })(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			vms, err := find.NewFinder(c, true).VirtualMachineList(ctx, "/DC0/vm/"+cluster+"-*")
			if err != nil {
				continue
			}
			for _, vm := range vms {
				var o mo.VirtualMachine
				if vm.Properties(ctx, vm.Reference(), []string{"runtime.powerState", "guest.ipAddress"}, &o) != nil ||
					o.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn || (o.Guest != nil && o.Guest.IpAddress != "") {
					continue
				}
				if task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "SET.guest.ipAddress", Value: guestIP}}}); err == nil {
					_ = task.Wait(ctx)
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		logout()
		server.Close()
		model.Remove()
	})
}

// TestVerifyAfterProvisionVSphere is the whole path for a provider other than qemu:
// render, `kisgen provision vsphere` (against the simulator), then `kisgen verify` against
// a real sshd. VMware Tools reports every clone at 127.0.0.1, where sshd holds the host
// key kisgen generated for etcd1: verify must reach each node at the recorded address and
// pin each node's own recorded key, so etcd1 passes and the others, presenting etcd1's
// key, fail.
func TestVerifyAfterProvisionVSphere(t *testing.T) {
	vcsim(t, "minimal", "127.0.0.1")
	path := planDir(t, "minimal.yaml")
	state := filepath.Join(filepath.Dir(path), plan.DefaultStateDirName)
	writePlan := func(port int) {
		t.Helper()
		data, err := os.ReadFile(filepath.Join("..", "examples", "minimal.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		machine := "  machine: {image: /DC0/vm/DC0_H0_VM0}\n"
		data = []byte(strings.NewReplacer(
			"provider:\n  name: qemu\n", "provider:\n  name: vsphere\n  vsphere: {datacenter: DC0, folder: /DC0/vm, resource_pool: /DC0/host/DC0_C0/Resources, datastore: LocalDS_0, network: DC0_DVPG0}\n",
			"etcd:\n  expected_count: 1\n", "etcd:\n  expected_count: 1\n"+machine,
			"master:\n  expected_count: 1\n", "master:\n  expected_count: 1\n"+machine,
			"worker:\n  expected_count: 1\n", "worker:\n  expected_count: 1\n"+machine,
			"ssh_port: 22", "ssh_port: "+strconv.Itoa(port)).Replace(string(data)))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// sshd needs the host key, which exists once the plan is rendered, and the plan needs
	// sshd's port: render, start sshd, render again with its port.
	writePlan(22)
	if code, _, errOut := run(t, nil, "render", "-f", path); code != ExitOK {
		t.Fatalf("render: exit %d\n%s", code, errOut)
	}
	b, err := pki.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	priv, _, ok := b.SSHHostKey("etcd1")
	if !ok {
		t.Fatal("no host key for etcd1")
	}
	etcd1 := sshdtest.Start(t, sshdtest.Config{HostKeyPEM: priv, AuthorizedKeys: []ssh.PublicKey{planSigner(t, path).PublicKey()}})
	_, port, _ := strings.Cut(etcd1.Addr, ":")
	n, _ := strconv.Atoi(port)
	writePlan(n)
	if code, _, errOut := run(t, nil, "render", "-f", path); code != ExitOK {
		t.Fatalf("render: exit %d\n%s", code, errOut)
	}

	code, out, errOut := run(t, nil, "provision", "vsphere", "-f", path)
	if code != ExitOK || !strings.Contains(errOut, "host key in "+instances.Path(state)) {
		t.Fatalf("provision: exit %d, or stderr does not name the record\n%s\n%s", code, out, errOut)
	}
	rec, err := instances.LoadFor(state, "minimal", "vsphere")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Instances) != 3 {
		t.Fatalf("record lists %d machines, want 3: %+v", len(rec.Instances), rec.Instances)
	}
	for _, in := range rec.Instances {
		_, line, _ := b.SSHHostKey(in.Node)
		if in.SSHAddress != etcd1.Addr || in.HostKey != string(line) || !strings.HasPrefix(in.Machine, "vm-") {
			t.Errorf("%s: recorded %s at %s with key %q; want a VM at %s with the PKI's key %q", in.Node, in.Machine, in.SSHAddress, in.HostKey, etcd1.Addr, line)
		}
	}

	for _, args := range [][]string{{"--provider", "vsphere"}, nil} {
		code, out, errOut = run(t, nil, append([]string{"verify", "-f", path, "--dial-timeout", "5s"}, args...)...)
		if code != ExitFail {
			t.Fatalf("verify %v: exit %d, want 1 (the sshd is no node)\n%s\n%s", args, code, out, errOut)
		}
		for _, w := range []string{
			"etcd1 reachable pass SSH at " + etcd1.Addr,
			"etcd1 host-key pass " + etcd1.HostKey.Type() + " " + ssh.FingerprintSHA256(etcd1.HostKey),
			"master1 host-key fail host key mismatch: " + etcd1.Addr + " offered",
			"worker1 host-key fail host key mismatch: " + etcd1.Addr + " offered",
		} {
			if !strings.Contains(collapse(out), w) {
				t.Errorf("verify %v: stdout lacks %q:\n%s", args, w, out)
			}
		}
	}

	code, _, errOut = run(t, nil, "verify", "-f", path, "--provider", "aws")
	if code != ExitFail || !strings.Contains(errOut, "lists machines booted by vsphere, not aws") || !strings.Contains(errOut, "--provider vsphere") {
		t.Errorf("verify --provider aws: exit %d\n%s", code, errOut)
	}
	code, _, errOut = run(t, nil, "verify", "-f", path, "--provider", "azure")
	if code != ExitUsage || !strings.Contains(errOut, `unknown provider "azure"`) {
		t.Errorf("verify --provider azure: exit %d\n%s", code, errOut)
	}

	if code, out, errOut := run(t, nil, "provision", "vsphere", "-f", path, "--destroy", "--yes"); code != ExitOK {
		t.Fatalf("provision --destroy: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = run(t, nil, "verify", "-f", path)
	if code != ExitFail || !strings.Contains(errOut, "no instances record") || !strings.Contains(errOut, "run `kisgen provision vsphere` first") {
		t.Errorf("verify after destroy: exit %d\n%s", code, errOut)
	}
	// Machines kisgen did not boot are reached at the plan's addresses, without a record.
	code, out, _ = run(t, nil, "verify", "-f", path, "--provider", "none", "--dial-timeout", "2s")
	if code != ExitFail || !strings.Contains(collapse(out), "etcd1 reachable fail") || !strings.Contains(out, "10.10.0.11:"+port) {
		t.Errorf("verify --provider none: exit %d\n%s", code, out)
	}
}
