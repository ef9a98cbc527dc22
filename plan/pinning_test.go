package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/internal/report"
)

// TestPinningReadsTheChecksumsFile proves the pinning rule looks each image archive and
// admin manifest up in the plan's real mirror.checksums file: listed is pinned, missing is
// refused with a hint naming the file, and the built-in sum pins the default Calico
// manifest without a checksums file.
func TestPinningReadsTheChecksumsFile(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "rules", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	calico := "raw.githubusercontent.com/projectcalico/calico/v3.31.0/manifests/calico.yaml"
	for _, tc := range []struct {
		name, extra, sums string
		want              []string // messages of the errors, in order
	}{
		{"the default Calico manifest is pinned by kisgen's own sum", "", "", nil},
		{"listed archives and manifests are pinned",
			"versions: {calico: v3.31.0}\nmirror: {url: 'https://m.example.com', checksums: SHA256SUMS, image_archives: [images/a.tar]}\n",
			sum + "  images/a.tar\n" + sum + "  " + calico + "\n", nil},
		{"an archive missing from the file is refused",
			"mirror: {url: 'https://m.example.com', checksums: SHA256SUMS, image_archives: [images/a.tar, images/b.tar]}\n",
			sum + "  images/a.tar\n", []string{"image archive images/b.tar would be imported into containerd without a pinned sha256"}},
		{"a manifest missing from the file is refused",
			"versions: {calico: v3.31.0}\nmirror: {url: 'https://m.example.com', checksums: SHA256SUMS}\n",
			sum + "  images/a.tar\n", []string{"the Calico manifest v3.31.0 (" + calico + ") would be applied as cluster-admin without a pinned sha256"}},
		{"the bridge network applies no manifest", "versions: {calico: v3.31.0}\nadd_ons: {cni: {provider: bridge}}\n", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "kismatic-cluster.yaml")
			if err := os.WriteFile(path, append(append([]byte(nil), base...), tc.extra...), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.sums != "" {
				if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(tc.sums), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, rep, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range rep.Findings {
				// the fixture has no SSH key: only the pinning rule's findings count here
				if f.Severity == report.Error && strings.Contains(f.Message, "without a pinned sha256") {
					got = append(got, f.Message)
					if !strings.Contains(f.Hint, "SHA256SUMS") {
						t.Errorf("hint %q does not name the checksums file", f.Hint)
					}
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
