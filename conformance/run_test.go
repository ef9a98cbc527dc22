package conformance

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/flock"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
	"github.com/kisgen/kisgen/verify"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// fakeSuite is a stand-in e2e.test: it records its arguments, prints a recorded output
// of the real suite ($KISGEN_FAKE/out), writes the report that run wrote into its
// --report-dir and exits with $KISGEN_FAKE/rc. With $KISGEN_FAKE/hang it prints the
// header and waits for SIGINT or SIGTERM as ginkgo does, then writes the report.
const fakeSuite = `#!/bin/sh
printf '%s\n' "$@" >"$KISGEN_FAKE/args"
pwd >"$KISGEN_FAKE/cwd"
report() { mkdir -p report && cp "$KISGEN_FAKE/junit" report/junit_01.xml; }
if [ -e "$KISGEN_FAKE/hang" ]; then
	trap 'echo "interrupted by the test"; report; exit 1' INT TERM
	echo "Will run 2 of 3206 specs"
	touch "$KISGEN_FAKE/hanging"
	while :; do sleep 0.1; done
fi
cat "$KISGEN_FAKE/out"
[ -e "$KISGEN_FAKE/junit" ] && report
exit "$(cat "$KISGEN_FAKE/rc")"
`

// fakeMaster is a real sshd standing in for a master: sessions find a sudo that runs its
// command as the test's user, and the fake suite's files in $KISGEN_FAKE.
type fakeMaster struct {
	t                      *testing.T
	fake, remote, e2e, bin string
	target                 verify.Target
}

func newFakeMaster(t *testing.T) *fakeMaster {
	t.Helper()
	m := &fakeMaster{t: t, fake: t.TempDir(), remote: filepath.Join(t.TempDir(), "conformance"), bin: t.TempDir()}
	m.e2e = filepath.Join(t.TempDir(), "e2e.test")
	m.write(m.e2e, fakeSuite, 0o755)
	// sudo runs its command as the test's user, with kisgen's ctr (an argument of the
	// command) replaced by the stand-in below, which lists $KISGEN_FAKE/images and
	// imports an archive by appending its references (the docker-archive's RepoTags).
	m.write(filepath.Join(m.bin, "sudo"), `#!/bin/sh
[ "$1" = -n ] && shift
for a; do shift; [ "$a" = `+roles.BinDir+`/ctr ] && a=ctr; set -- "$@" "$a"; done
exec "$@"
`, 0o755)
	m.write(filepath.Join(m.bin, "ctr"), `#!/bin/sh
case "$*" in
*"images ls -q") cat "$KISGEN_FAKE/images" 2>/dev/null;;
*"images import "*) for f; do :; done; tar -xOf "$f" manifest.json | tr '"' '\n' | grep : | grep -v Config >>"$KISGEN_FAKE/images";;
*) exit 1;;
esac
`, 0o755)
	signer := sshdtest.NewSigner(t)
	srv := sshdtest.Start(t, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
		Env: map[string]string{"PATH": m.bin + ":/usr/local/bin:/usr/bin:/bin", "KISGEN_FAKE": m.fake}})
	m.target = verify.Target{Host: "master1", Addr: srv.Addr, User: srv.User, Signer: signer, HostKey: srv.HostKey}
	return m
}

func (m *fakeMaster) write(path, data string, mode os.FileMode) {
	m.t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		m.t.Fatal(err)
	}
}

// replay makes the suite print the recorded output NAME.stdout, write NAME.junit.xml (if
// any) and exit rc.
func (m *fakeMaster) replay(name string, rc string) {
	m.t.Helper()
	for src, dst := range map[string]string{name + ".stdout": "out", name + ".junit.xml": "junit"} {
		data, err := os.ReadFile(filepath.Join("testdata", src))
		if err != nil {
			m.t.Fatal(err)
		}
		m.write(filepath.Join(m.fake, dst), string(data), 0o644)
	}
	m.write(filepath.Join(m.fake, "rc"), rc, 0o644)
}

func (m *fakeMaster) connect() *verify.Remote {
	m.t.Helper()
	r, err := verify.Connect(context.Background(), m.target, verify.Options{})
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { r.Close() })
	return r
}

func (m *fakeMaster) options(state string, progress *bytes.Buffer) Options {
	m.t.Helper()
	sel, err := Select(ModeNetwork, plan.DefaultKubernetesVersion, "", "")
	if err != nil {
		m.t.Fatal(err)
	}
	return Options{E2ETest: m.e2e, Selection: sel, Cluster: "lab", Kubernetes: plan.DefaultKubernetesVersion, StateDir: state,
		RemoteDir: m.remote, NonBlockingTaints: []string{"node-role.kubernetes.io/control-plane", "dedicated"}, Progress: progress,
		Grace: 20 * time.Second, Now: func() time.Time { return time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC) }}
}

// TestRunOnAMaster runs the whole path over a real SSH connection with a stand-in suite
// replaying the real one's output: the binary is copied (and not again when it is
// there), the suite runs as root in its folder with kisgen's arguments, the progress
// names each spec as it ends, and the state directory gets the output, the report and
// a summary that says what ran, what the suite skipped and why, and what kisgen left out.
func TestRunOnAMaster(t *testing.T) {
	m := newFakeMaster(t)
	m.replay("passed-and-skipped", "0")
	state := t.TempDir()
	var progress bytes.Buffer
	s, err := Run(context.Background(), m.connect(), m.options(state, &progress))
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, progress.String())
	}
	got := progress.String()
	for _, want := range []string{
		"conformance: copying e2e.test (0 MiB) to master1:" + m.remote + "/e2e.test",
		"conformance: the suite runs 3 of its 3206 specs on master1",
		"[1/3] SKIPPED [sig-network] DNS should provide DNS for the cluster [Provider:gce] (0s)\n        Only supported for providers [gce] (not skeleton)",
		"[2/3] PASSED  [sig-network] Services should find a service from listing all namespaces [Conformance] (0s)",
		"[3/3] PASSED  [sig-node] ConfigMap should update ConfigMap successfully [Conformance] [NodeConformance] (0s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("progress lacks %q:\n%s", want, got)
		}
	}
	if !s.OK() || s.Selected != 3 || s.Passed != 2 || s.Skipped != 1 || s.Failed != 0 || s.NotRun != 0 || s.Of != 3206 {
		t.Errorf("summary %+v: want OK, 3 selected, 2 passed, 1 skipped", s)
	}
	if len(s.SkippedSpecs) != 1 || s.SkippedSpecs[0].Message != "Only supported for providers [gce] (not skeleton)" {
		t.Errorf("skipped specs %+v: want the suite's reason", s.SkippedSpecs)
	}
	args, _ := os.ReadFile(filepath.Join(m.fake, "args"))
	for _, want := range []string{"--kubeconfig=/etc/kubernetes/admin.kubeconfig", "--kubectl-path=/opt/kisgen/bin/kubectl",
		"--provider=skeleton", "--dns-domain=cluster.local", "--report-dir=report",
		"--non-blocking-taints=dedicated,node-role.kubernetes.io/control-plane",
		"--ginkgo.focus=" + networkConformance, "--ginkgo.v", "--ginkgo.no-color", "--ginkgo.timeout=6h0m0s"} {
		if !strings.Contains("\n"+string(args), "\n"+want+"\n") {
			t.Errorf("the suite's arguments lack %q:\n%s", want, args)
		}
	}
	if cwd, _ := os.ReadFile(filepath.Join(m.fake, "cwd")); strings.TrimSpace(string(cwd)) != m.remote {
		t.Errorf("the suite ran in %q, want %s", cwd, m.remote)
	}
	for _, f := range []string{LogFile, JUnitFile, SummaryFile} {
		if _, err := os.Stat(filepath.Join(state, ResultsDir, f)); err != nil {
			t.Errorf("state directory: %v", err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(state, ResultsDir, LogFile))
	if want, _ := os.ReadFile(filepath.Join("testdata", "passed-and-skipped.stdout")); !bytes.Equal(log, want) {
		t.Errorf("%s is not the suite's output (%d bytes, want %d)", LogFile, len(log), len(want))
	}
	loaded, err := Load(state)
	if err != nil || loaded.Passed != 2 || loaded.JUnit != filepath.Join(ResultsDir, JUnitFile) {
		t.Errorf("Load = %+v, %v", loaded, err)
	}
	if len(loaded.LeftOut) != 0 {
		t.Errorf("left out %v: the network mode's specs are all runnable (and no spec list was given)", loaded.LeftOut)
	}

	// Again: the binary is there already.
	progress.Reset()
	if _, err := Run(context.Background(), m.connect(), m.options(state, &progress)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "master1 already has this e2e.test") || strings.Contains(progress.String(), "copying") {
		t.Errorf("second run copied the binary again:\n%s", progress.String())
	}
}

// TestRunReportsFailures: a spec that failed and a suite whose setup failed both fail
// the run with ErrSpecsFailed, and the summary says what and where.
func TestRunReportsFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		check    func(*Summary) bool
		progress string
	}{
		{"timedout", func(s *Summary) bool {
			return s.Failed == 1 && s.Passed == 1 && s.NotRun == 1 && len(s.Failures) == 1 && s.Failures[0].State == StateTimedOut &&
				s.Failures[0].Location == "k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:208" && len(s.SuiteFailures) == 1 && s.SuiteFailures[0] == "Suite Timeout Elapsed"
		}, "[2/3] TIMEDOUT [sig-node] Pods should get a host IP [Conformance] [NodeConformance] (29s)\n        A suite timeout occurred"},
		{"suite-setup-failed", func(s *Summary) bool {
			return s.Selected == 1 && s.NotRun == 1 && s.Failed == 0 && len(s.SuiteFailures) == 1 &&
				strings.Contains(s.SuiteFailures[0], "no ready, schedulable nodes")
		}, "conformance: the suite's [SynchronizedBeforeSuite] failed: there are currently no ready, schedulable nodes in the cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeMaster(t)
			m.replay(tc.name, "1")
			var progress bytes.Buffer
			s, err := Run(context.Background(), m.connect(), m.options(t.TempDir(), &progress))
			if !errors.Is(err, ErrSpecsFailed) {
				t.Errorf("err = %v, want ErrSpecsFailed", err)
			}
			if s == nil || s.OK() || !tc.check(s) {
				t.Errorf("summary %+v", s)
			}
			if !strings.Contains(progress.String(), tc.progress) {
				t.Errorf("progress lacks %q:\n%s", tc.progress, progress.String())
			}
			var text bytes.Buffer
			if err := s.WriteText(&text); err != nil || !strings.Contains(text.String(), "FAILED") {
				t.Errorf("text: %v\n%s", err, text.String())
			}
		})
	}
}

// TestRunStopsTheSuiteWhenInterrupted: cancelling the run ends the SSH session's input;
// the master's script then interrupts the suite (which writes its report), and the
// partial results are kept.
func TestRunStopsTheSuiteWhenInterrupted(t *testing.T) {
	m := newFakeMaster(t)
	m.replay("timedout", "1")
	m.write(filepath.Join(m.fake, "hang"), "", 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for i := 0; i < 300; i++ {
			if _, err := os.Stat(filepath.Join(m.fake, "hanging")); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
	}()
	state := t.TempDir()
	t0 := time.Now()
	s, err := Run(ctx, m.connect(), m.options(state, &bytes.Buffer{}))
	if err == nil || !errors.Is(err, context.Canceled) || time.Since(t0) > 30*time.Second {
		t.Fatalf("err = %v after %s: want the cancellation, promptly", err, time.Since(t0))
	}
	log, _ := os.ReadFile(filepath.Join(state, ResultsDir, LogFile))
	if !strings.Contains(string(log), "interrupted by the test") {
		t.Errorf("the suite was not interrupted; its output:\n%s", log)
	}
	if s == nil || s.JUnit == "" || s.Failed != 1 {
		t.Errorf("summary %+v: want the report the interrupted suite wrote", s)
	}
}

// TestRunRefusesASecondRunOnTheSameMaster: the master's lock keeps two runs apart.
func TestRunRefusesASecondRunOnTheSameMaster(t *testing.T) {
	m := newFakeMaster(t)
	m.replay("passed-and-skipped", "0")
	if err := os.MkdirAll(m.remote, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := flock.Lock(filepath.Join(m.remote, "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, err = Run(context.Background(), m.connect(), m.options(t.TempDir(), &bytes.Buffer{}))
	if !errors.Is(err, ErrRemote) || !strings.Contains(err.Error(), "another kisgen conformance run is in progress on master1") {
		t.Errorf("err = %v", err)
	}
}

// TestImagesAreCheckedAndImported asks a node's containerd (a stand-in ctr behind the
// real sshd) which images it lacks, then copies an archive there and imports it.
func TestImagesAreCheckedAndImported(t *testing.T) {
	m := newFakeMaster(t)
	m.write(filepath.Join(m.fake, "images"), "registry.k8s.io/pause:3.10.1\n", 0o644)
	node := m.connect()
	refs := []string{"registry.k8s.io/pause:3.10.1", "registry.k8s.io/e2e-test-images/nginx:1.27.0-2"}
	missing, err := MissingImages(context.Background(), node, refs)
	if err != nil || len(missing) != 1 || missing[0] != refs[1] {
		t.Fatalf("missing %v, %v: want nginx", missing, err)
	}
	archive := filepath.Join(t.TempDir(), "nginx.tar")
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	manifest := `[{"Config":"blobs/sha256/c","RepoTags":["registry.k8s.io/e2e-test-images/nginx:1.27.0-2"],"Layers":[]}]`
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(manifest))
	tw.Close()
	m.write(archive, tarball.String(), 0o644)
	var progress bytes.Buffer
	if err := ImportImage(context.Background(), node, archive, &progress); err != nil {
		t.Fatal(err)
	}
	if missing, err := MissingImages(context.Background(), node, refs); err != nil || len(missing) != 0 {
		t.Errorf("after the import: missing %v, %v", missing, err)
	}
	if !strings.Contains(progress.String(), "imported "+archive+" on master1") {
		t.Errorf("progress: %s", progress.String())
	}
	if err := ImportImage(context.Background(), node, filepath.Join(t.TempDir(), "none.tar"), &progress); err == nil {
		t.Error("importing a missing file succeeded")
	}
}
