package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mirrorPlan gives a copied example plan a mirror with pinned sums of every file
// (fake sums: kisgen packer only writes them into the templates).
func mirrorPlan(t *testing.T) string {
	t.Helper()
	plan := planDir(t, "minimal.yaml")
	dir := filepath.Dir(plan)
	data, err := os.ReadFile(plan)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte("mirror:\n  url: http://10.0.2.100:8080\n  checksums: SHA256SUMS\n")...)
	if err := os.WriteFile(plan, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var sums strings.Builder
	for _, p := range []string{"github.com/etcd-io/etcd/releases/download/v3.7.3/etcd-v3.7.3-linux-amd64.tar.gz",
		"dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-apiserver", "dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-controller-manager",
		"dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-scheduler", "dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubectl",
		"dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet", "dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-proxy"} {
		sums.WriteString(strings.Repeat("ab", 32) + "  " + p + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestPackerWritesTemplatesAndKeepsTheBuildKey(t *testing.T) {
	plan := mirrorPlan(t)
	out := filepath.Join(filepath.Dir(plan), "packer")
	code, stdout, stderr := run(t, nil, "packer", "-f", plan, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"qemu-debian-12/kisgen.pkr.hcl: 11 binaries (etcd, containerd, runc, cni-plugins", "calicoctl", "build key:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	tmpl := filepath.Join(out, "qemu-debian-12", "kisgen.pkr.hcl")
	first, err := os.ReadFile(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(out, "build-key"))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(out, "build-key")); st.Mode().Perm() != 0o600 {
		t.Errorf("build key mode %v", st.Mode())
	}
	if code, stdout, stderr := run(t, nil, "packer", "-f", plan, "--out", out, "--builder", "qemu"); code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	second, _ := os.ReadFile(tmpl)
	key2, _ := os.ReadFile(filepath.Join(out, "build-key"))
	if string(first) != string(second) || string(key) != string(key2) {
		t.Error("a second run changed the template or the build key")
	}
}

func TestPackerUsageErrors(t *testing.T) {
	plan := mirrorPlan(t)
	out := filepath.Join(filepath.Dir(plan), "packer")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an unknown builder names the ones kisgen writes", []string{"--builder", "virtualbox-iso"}, "amazon-ebs, qemu, vsphere-clone"},
		{"a missing plan says which file", []string{"-f", filepath.Join(filepath.Dir(plan), "nope.yaml")}, "nope.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"packer", "-f", plan, "--out", out}, tc.args...)
			code, stdout, stderr := run(t, nil, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr lacks %q:\n%s\n%s", code, tc.want, stdout, stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(out, "qemu-debian-12")); err == nil {
		t.Error("a failed run wrote templates")
	}
}
