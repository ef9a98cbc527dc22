package outdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var userdata = Marker{Kind: "userdata", Cluster: "minimal", ClusterID: "aaaa"}

// write replaces out with one file, content, through a full Begin/Commit.
func write(t *testing.T, out, content string) *Stage {
	t.Helper()
	st, err := Begin(out, Options{Marker: userdata})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.Dir, "node.yaml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(); err != nil {
		t.Fatal(err)
	}
	return st
}

func content(t *testing.T, out string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "node.yaml"))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(data)
}

// siblings lists what is beside out in its parent, but the lock file (which stays).
func siblings(t *testing.T, out string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "."+filepath.Base(out)+".lock" {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// TestCrashBetweenSteps stops Commit after each step as a crash would, then proves the
// next Begin leaves exactly one output (the previous one, or the new one once it was in
// place) and no directory of keys beside it. Before the journal, a crash after
// "old-moved" left no output at all and two directories of keys behind.
func TestCrashBetweenSteps(t *testing.T) {
	for _, tc := range []struct {
		step     string
		previous bool   // an output existed before
		want     string // node.yaml after the repair
		leftover bool   // something beside out after the crash (the bug's symptom)
	}{
		{step: stepSynced, previous: true, want: "v1", leftover: true},
		{step: stepJournal, previous: true, want: "v1", leftover: true},
		{step: stepOldMoved, previous: true, want: "v1", leftover: true},
		{step: stepNewPlaced, previous: true, want: "v2", leftover: true},
		{step: stepOldGone, previous: true, want: "v2", leftover: true},
		{step: stepJournal, previous: false, want: "<open", leftover: true},
		{step: stepNewPlaced, previous: false, want: "v2", leftover: true},
	} {
		t.Run(fmt.Sprintf("%s/previous=%v", tc.step, tc.previous), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "userdata")
			if tc.previous {
				write(t, out, "v1")
			}
			st, err := Begin(out, Options{Marker: userdata})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(st.Dir, "node.yaml"), []byte("v2"), 0o600); err != nil {
				t.Fatal(err)
			}
			testHook = func(step string) error {
				if step == tc.step {
					return errors.New("power cut")
				}
				return nil
			}
			err = st.Commit()
			testHook = nil
			if !errors.Is(err, errCrash) {
				t.Fatalf("Commit = %v, want the simulated crash", err)
			}
			if got := siblings(t, out); tc.leftover && len(got) < 2 {
				t.Fatalf("after the crash only %v: the crash point did nothing", got)
			}

			st2, err := Begin(out, Options{Marker: userdata})
			if err != nil {
				t.Fatalf("Begin after the crash: %v", err)
			}
			if len(st2.Notes) == 0 {
				t.Error("Begin repaired without saying so")
			}
			st2.Abort()
			if got := content(t, out); !strings.HasPrefix(got, tc.want) {
				t.Errorf("node.yaml = %q, want %q", got, tc.want)
			}
			want := []string{"userdata"}
			if strings.HasPrefix(tc.want, "<") {
				want = nil
			}
			if got := siblings(t, out); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("beside the output: %v, want %v", got, want)
			}
		})
	}
}

// TestLegacyLeftovers: kisgen before the journal named the previous output
// NAME.old-.NAME.tmp-*; a crash between its renames left that and no NAME.
func TestLegacyLeftovers(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "userdata")
	old := filepath.Join(dir, "userdata.old-.userdata.tmp-123")
	staged := filepath.Join(dir, ".userdata.tmp-456")
	foreign := filepath.Join(dir, "userdata.old-mine") // not kisgen's naming: kept
	for _, d := range []string{old, staged, foreign} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(old, "node.yaml"), []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "manifest.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Begin(out, Options{Marker: userdata, Legacy: "manifest.json"})
	if err != nil {
		t.Fatal(err)
	}
	st.Abort()
	if got := content(t, out); got != "v1" {
		t.Errorf("node.yaml = %q, want the previous output put back", got)
	}
	if got := siblings(t, out); strings.Join(got, " ") != "userdata userdata.old-mine" {
		t.Errorf("beside the output: %v", got)
	}
}

// TestConcurrentWriters runs writers on one output at once: the lock must keep their
// stages apart, and the result is one writer's complete output with nothing left over.
func TestConcurrentWriters(t *testing.T) {
	out := filepath.Join(t.TempDir(), "userdata")
	var active, overlaps atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Begin(out, Options{Marker: userdata})
			if err != nil {
				t.Error(err)
				return
			}
			if active.Add(1) > 1 {
				overlaps.Add(1)
			}
			v := fmt.Sprint("writer ", i)
			for _, f := range []string{"a", "b"} {
				if err := os.WriteFile(filepath.Join(st.Dir, f), []byte(v), 0o600); err != nil {
					t.Error(err)
				}
			}
			active.Add(-1)
			if err := st.Commit(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d writers staged at the same time", n)
	}
	a, _ := os.ReadFile(filepath.Join(out, "a"))
	b, _ := os.ReadFile(filepath.Join(out, "b"))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("output mixes writers: a=%q b=%q", a, b)
	}
	if got := siblings(t, out); len(got) != 1 {
		t.Errorf("beside the output: %v", got)
	}
}

func TestCommitAbortLeaveNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "userdata")
	write(t, out, "v1")
	st, err := Begin(out, Options{Marker: userdata})
	if err != nil {
		t.Fatal(err)
	}
	st.Abort()
	st.Abort() // twice is harmless
	if got := content(t, out); got != "v1" {
		t.Errorf("after Abort node.yaml = %q", got)
	}
	if got := siblings(t, out); len(got) != 1 {
		t.Errorf("beside the output: %v", got)
	}
	m, err := ReadMarker(out)
	if err != nil || m != userdata {
		t.Errorf("marker = %+v, %v", m, err)
	}
	fi, err := os.Stat(out)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("output mode = %v, %v; want 0700 (it holds keys)", fi.Mode(), err)
	}
}

// TestCheck is the refusal table: every way an output path could destroy the state
// directory, the plan, its key or a directory kisgen did not write.
func TestCheck(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "generated")
	planFile := filepath.Join(root, "kisgen.yaml")
	key := filepath.Join(root, "ssh", "cluster.pem")
	for _, d := range []string{filepath.Join(state, "pki"), filepath.Dir(key), filepath.Join(root, "foreign"), filepath.Join(root, "empty"),
		filepath.Join(root, "bundle"), filepath.Join(root, "ha"), filepath.Join(root, "legacy"), filepath.Join(root, "sameName")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		planFile:                         "cluster: {}",
		key:                              "KEY",
		filepath.Join(root, "foreign/x"): "mine",
		filepath.Join(root, "bundle", MarkerFile):      `{"kind":"pxe-bundle","cluster":"minimal"}`,
		filepath.Join(root, "ha", MarkerFile):          `{"kind":"userdata","cluster":"ha"}`,
		filepath.Join(root, "sameName", MarkerFile):    `{"kind":"userdata","cluster":"minimal","cluster_id":"bbbb"}`,
		filepath.Join(root, "legacy", "manifest.json"): "{}",
	}
	for p, c := range files {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(state, filepath.Join(root, "state-link")); err != nil {
		t.Fatal(err)
	}
	protect := []Protected{{state, "the state directory"}, {planFile, "the plan"}, {key, "the plan's SSH key"}}
	for _, tc := range []struct {
		name, out, want string // want "" means allowed
	}{
		{"the state directory itself", state, "is " + state},
		{"the state directory through dot-dot", filepath.Join(state, "..", "generated"), "is " + state},
		{"the state directory through a link", filepath.Join(root, "state-link"), "is " + state},
		{"inside the state directory", filepath.Join(state, "userdata"), "lies inside " + state},
		{"the plan's directory", root, "contains " + state},
		{"the key's directory", filepath.Dir(key), "contains " + key},
		{"the plan file", planFile, "is " + planFile},
		{"a directory kisgen did not write", filepath.Join(root, "foreign"), "kisgen did not write it"},
		{"a PXE bundle where user-data goes", filepath.Join(root, "bundle"), "holds kisgen's pxe-bundle"},
		{"another cluster's user-data", filepath.Join(root, "ha"), `cluster "ha"`},
		{"another cluster of the same name", filepath.Join(root, "sameName"), "cluster id bbbb"},
		{"output from before markers", filepath.Join(root, "legacy"), ""},
		{"an empty directory", filepath.Join(root, "empty"), ""},
		{"a new directory", filepath.Join(root, "userdata"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.out, Options{Marker: userdata, Legacy: "manifest.json", Protect: protect})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && !errors.Is(err, ErrRefused):
				t.Errorf("Check = %v, want a refusal", err)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	// Begin refuses too, and touches nothing.
	if _, err := Begin(state, Options{Marker: userdata, Protect: protect}); !errors.Is(err, ErrRefused) {
		t.Errorf("Begin on the state directory = %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "pki")); err != nil {
		t.Errorf("state directory damaged: %v", err)
	}
	if _, err := os.Stat(lockPath(state)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused output got a lock file: %v", err)
	}
}
