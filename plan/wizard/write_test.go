package wizard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/plan"
)

func validPlanBytes(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "rules", "valid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWrite(t *testing.T) {
	valid := validPlanBytes(t)
	invalid := []byte(strings.Replace(string(valid), "name: test", "name: Bad_Name", 1))
	tests := []struct {
		name     string
		existing string // content already at the path, "" for none
		data     []byte
		opts     WriteOptions
		wantErr  error
		want     string // content after
	}{
		{"a new plan is written", "", valid, WriteOptions{}, nil, string(valid)},
		{"an existing plan is kept", "mine\n", valid, WriteOptions{}, ErrPlanExists, "mine\n"},
		{"--force replaces it", "mine\n", valid, WriteOptions{Force: true}, nil, string(valid)},
		{"an invalid plan is not written", "", invalid, WriteOptions{}, ErrInvalidPlan, ""},
		{"an invalid plan does not replace a plan even with force", "mine\n", invalid, WriteOptions{Force: true}, ErrInvalidPlan, "mine\n"},
		{"a converted plan is written with its errors when asked", "", invalid, WriteOptions{KeepInvalid: true}, nil, string(invalid)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTestKey(t, filepath.Join(dir, plan.DefaultSSHKey), "")
			path := filepath.Join(dir, "kismatic-cluster.yaml")
			if tt.existing != "" {
				os.WriteFile(path, []byte(tt.existing), 0o600)
			}
			rep, err := Write(path, tt.data, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			got, _ := os.ReadFile(path)
			if string(got) != tt.want {
				t.Errorf("file holds %q", got)
			}
			if rep == nil {
				t.Fatal("no report")
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			if tt.want == string(tt.data) {
				if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
					t.Errorf("mode %v", st.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteChecksTheKeyLikeValidate(t *testing.T) {
	dir := t.TempDir() // no key
	rep, err := Write(filepath.Join(dir, "p.yaml"), validPlanBytes(t), WriteOptions{})
	if !errors.Is(err, ErrInvalidPlan) || rep.Count(2) != 1 || rep.Findings[0].Path != "cluster.ssh.ssh_key" {
		t.Fatalf("got %v, %v", err, rep.Findings)
	}
}

func TestCheckNotExists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := CheckNotExists(path, false); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, nil, 0o644)
	if err := CheckNotExists(path, false); !errors.Is(err, ErrPlanExists) {
		t.Fatalf("got %v", err)
	}
	if err := CheckNotExists(path, true); err != nil {
		t.Fatal(err)
	}
}
