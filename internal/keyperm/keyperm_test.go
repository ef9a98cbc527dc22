package keyperm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTighten(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		warn string // "" means no warning
	}{
		{"private", 0o600, ""},
		{"owner read only", 0o400, ""},
		{"world readable", 0o644, "mode 0644, open to its group and every user"},
		{"group readable", 0o640, "mode 0640, open to its group"},
		{"others only", 0o604, "open to every user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ca-key.pem")
			if err := os.WriteFile(path, []byte("KEY"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			warn, err := Tighten(path, "the CA key", "rotate it")
			if err != nil {
				t.Fatal(err)
			}
			if (warn == "") != (tc.warn == "") || !strings.Contains(warn, tc.warn) {
				t.Errorf("warning %q, want one saying %q", warn, tc.warn)
			}
			fi, _ := os.Stat(path)
			want := tc.mode
			if tc.warn != "" {
				want = 0o600
				if !strings.Contains(warn, "made it 0600") || !strings.Contains(warn, "rotate it") || !strings.Contains(warn, path) {
					t.Errorf("warning %q does not say what was done and what to do", warn)
				}
			}
			if fi.Mode().Perm() != want {
				t.Errorf("mode %04o after, want %04o", fi.Mode().Perm(), want)
			}
		})
	}
	if warn, err := Tighten(filepath.Join(t.TempDir(), "absent"), "the key", ""); warn != "" || err != nil {
		t.Errorf("missing file: %q, %v", warn, err)
	}
}

// TestTightenRefusesWhatItCannotFix: a key kisgen cannot chmod is an error, not a warning.
func TestTightenRefusesWhatItCannotFix(t *testing.T) {
	if os.Geteuid() == 0 {
		// root can chmod anything; make the file immutable to the chmod instead: a
		// read-only bind is not available in a test, so use a file in /proc, which
		// nobody can chmod.
		path := "/proc/self/status"
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 == 0 {
			t.Skip("no world-readable file that cannot be chmod-ed")
		}
		_, err := Tighten(path, "a key", "")
		if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("Tighten = %v, want ErrExposed saying to chmod it", err)
		}
		return
	}
	path := "/etc/hostname" // root's, world-readable: this user cannot chmod it
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 == 0 {
		t.Skip("no world-readable file of another user")
	}
	if _, err := Tighten(path, "a key", ""); !errors.Is(err, ErrExposed) {
		t.Errorf("Tighten = %v, want ErrExposed", err)
	}
}
