package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// complete runs cobra's hidden __complete command, as the shell scripts of `kisgen
// completion` do, and returns the offered values (without descriptions) and the directive.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, out, errOut := run(t, nil, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d\n%s%s", args, code, out, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	directive := lines[len(lines)-1]
	var values []string
	for _, l := range lines[:len(lines)-1] {
		if l == "" {
			continue
		}
		values = append(values, strings.SplitN(l, "\t", 2)[0])
	}
	return values, directive
}

func TestCompletionOfValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"provision completes providers", []string{"provision", ""}, []string{"aws", "packet", "pxe", "qemu", "vsphere"}},
		{"provision takes one provider only", []string{"provision", "qemu", ""}, nil},
		{"render --format", []string{"render", "--format", ""}, []string{"cloud-init", "ignition"}},
		{"diff --format", []string{"diff", "--format", ""}, []string{"cloud-init", "ignition"}},
		{"plan --os lists every supported OS", []string{"plan", "--os", ""},
			[]string{"debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rhel-9", "rocky-9", "almalinux-9", "flatcar", "fedora-coreos"}},
		{"plan --provider adds none", []string{"plan", "--provider", ""}, []string{"aws", "packet", "pxe", "qemu", "vsphere", "none"}},
		{"plan --networking", []string{"plan", "--networking", ""}, []string{"overlay", "routed"}},
		{"image build --os lists what it can build", []string{"image", "build", "--os", ""}, []string{"debian-12", "debian-13"}},
		{"packer --builder", []string{"packer", "--builder", ""}, []string{"amazon-ebs", "qemu", "vsphere-clone"}},
		{"certs rotate --ca= (its value is optional)", []string{"certs", "rotate", "--ca="}, []string{"ca", "etcd-ca", "front-proxy-ca"}},
		{"validate -o", []string{"validate", "-o", ""}, []string{"text", "json"}},
		{"verify -o", []string{"verify", "-o", ""}, []string{"table", "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, directive := complete(t, tt.args...)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("completions (-want +got):\n%s", d)
			}
			// 4 is ShellCompDirectiveNoFileComp: a value, not a file name.
			if directive != ":4" {
				t.Errorf("directive %s, want :4 (no file completion)", directive)
			}
		})
	}
}

// certs rotate completes the leaf certificates of the plan's state, and no CA.
func TestCompletionOfCertificates(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	if code, out, errOut := run(t, nil, "certs", "issue", "-f", path); code != 0 {
		t.Fatalf("certs issue: exit %d\n%s%s", code, out, errOut)
	}
	got, _ := complete(t, "certs", "rotate", "-f", path, "")
	for _, want := range []string{"kubelet-worker1", "kubelet-serving-worker1", "etcd-server-etcd1", "admin"} {
		if !contains(got, want) {
			t.Errorf("completions lack %s: %v", want, got)
		}
	}
	for _, ca := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
		if contains(got, ca) {
			t.Errorf("completions offer the CA %s, which rotates with --ca: %v", ca, got)
		}
	}
	// Without a state directory there is nothing to offer, and no error.
	empty := filepath.Join(t.TempDir(), "kismatic-cluster.yaml")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := complete(t, "certs", "rotate", "-f", empty, ""); len(got) != 0 {
		t.Errorf("completions without a state directory: %v", got)
	}
}

// -f completes YAML files (directive 8, ShellCompDirectiveFilterFileExt, with the extensions).
func TestCompletionOfPlanFile(t *testing.T) {
	got, directive := complete(t, "validate", "-f", "")
	if d := cmp.Diff([]string{"yaml", "yml"}, got); d != "" || directive != ":8" {
		t.Errorf("validate -f offers %v %s, want [yaml yml] :8", got, directive)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Every flag of a kind the completion knows offers values, on whichever command has it:
// a new --output, --format, --provider, --os or --builder flag completes without a change.
func TestEveryValueFlagCompletes(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	kinds := map[string]bool{"output": true, "format": true, "provider": true, "os": true, "builder": true}
	found := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "completion" {
			return
		}
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if !kinds[f.Name] {
				return
			}
			found++
			args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "kisgen ")), "--"+f.Name, "")
			if got, _ := complete(t, args...); len(got) == 0 {
				t.Errorf("%s --%s completes nothing", c.CommandPath(), f.Name)
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if found < 10 {
		t.Errorf("only %d value flags found", found)
	}
}

// --node and --host complete the plan's host names (for the commands that take one; plan's
// own --node defines new nodes and is left alone).
func TestCompleteNodeNames(t *testing.T) {
	path := planDir(t, "ha.yaml")
	c := &cobra.Command{Use: "x"}
	c.Flags().StringP("file", "f", path, "")
	got, directive := completeNodeNames(c, nil, "")
	want := []string{"etcd1", "etcd2", "etcd3", "master1", "master2", "worker1", "worker2", "worker3"}
	if d := cmp.Diff(want, got); d != "" || directive != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("node names (-want +got):\n%s", d)
	}
	c.Flags().Set("file", filepath.Join(t.TempDir(), "missing.yaml"))
	if got, _ := completeNodeNames(c, nil, ""); len(got) != 0 {
		t.Errorf("a missing plan completes %v", got)
	}
	if got, _ := complete(t, "plan", "--node", ""); len(got) != 0 {
		t.Errorf("plan --node completes %v", got)
	}
}
