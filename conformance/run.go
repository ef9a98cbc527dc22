package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/filehash"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/roles"
)

// Node is a node commands run on: verify.Remote over SSH, or a stand-in in tests.
type Node interface {
	// Host is the node's name.
	Host() string
	// Run runs argv (as root when root) and returns its standard output; a non-zero exit
	// is an error.
	Run(ctx context.Context, root bool, argv ...string) ([]byte, error)
	// Stream runs argv with stdin (nil: an input that stays open until ctx ends), copying
	// its output as it comes, and returns its exit status. When ctx ends the input is
	// closed and the command has grace to exit.
	Stream(ctx context.Context, root bool, stdin io.Reader, stdout, stderr io.Writer, grace time.Duration, argv ...string) (int, error)
}

// RemoteDir is where the suite's binary and report live on the master: kisgen's own
// state directory on the node.
const RemoteDir = roles.NodeStateDir + "/conformance"

// Options configure Run.
type Options struct {
	// E2ETest is the suite's binary on this machine.
	E2ETest string
	// Selection is what to run (Select).
	Selection Selection
	// Specs are the suite's specs (ListSpecs), when they could be listed: they name the
	// specs in the progress lines and the specs kisgen leaves out in the summary.
	Specs []Spec
	// Cluster and Kubernetes are the plan's cluster name and version, for the summary.
	Cluster, Kubernetes string
	// NonBlockingTaints are the taint keys that must not keep the suite from starting
	// (the suite waits for every node to be schedulable and untainted otherwise): the
	// masters' control-plane taint and the plan's own.
	NonBlockingTaints []string
	// StateDir receives the results (ResultsDir).
	StateDir string
	// RemoteDir is the folder on the master; "" means RemoteDir.
	RemoteDir string
	// Kubeconfig and Kubectl are the admin kubeconfig and kubectl on the master; ""
	// means kisgen's (roles.AdminKubeconfig, kubectl in roles.BinDir).
	Kubeconfig, Kubectl string
	// Progress receives a line as the suite starts, as each spec ends and at each
	// failure of the suite itself.
	Progress io.Writer
	// Output, when set, also receives the suite's own output as it comes.
	Output io.Writer
	// Grace is how long the suite has to stop (clean up its namespaces and write its
	// report) after ctx ends; 0 means 2 minutes.
	Grace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// uploadScript puts its input at $1 atomically (a partial copy never takes the name).
const uploadScript = `set -e
mkdir -p "$(dirname "$1")"
cat >"$1.part"
chmod 0755 "$1.part"
mv -f "$1.part" "$1"`

// runScript runs the suite on the master in its folder ($1), one run at a time (flock),
// in a fresh report folder, and stops it when the SSH session's input ends: sshd cannot
// signal a command that runs as root, so the session's end (the caller interrupted, the
// connection lost) is seen as the end of standard input, and the suite gets SIGTERM
// (ginkgo takes it as an interrupt: it cleans up and writes its report; SIGINT would
// not do, a shell's background job ignores it), and SIGKILL 5 minutes later.
const runScript = `dir=$1
shift
mkdir -p "$dir" && cd "$dir" || exit 70
exec 9>lock
if ! flock -n 9; then
	echo "kisgen conformance: another run holds $dir/lock on this node" >&2
	exit 75
fi
rm -rf report && mkdir report || exit 70
exec 3<&0
"$@" </dev/null &
pid=$!
(cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null; sleep 300; kill -KILL "$pid" 2>/dev/null) >/dev/null 2>&1 &
watcher=$!
wait "$pid"
rc=$?
kill "$watcher" 2>/dev/null
exit "$rc"`

// exitLocked is runScript's exit status when another run holds the lock.
const exitLocked = 75

// Run runs the suite on master with o.Selection and keeps the results in the state
// directory: the summary (returned too), the JUnit report and the suite's output. The
// binary is copied to the master unless the same one is already there. A run whose
// specs failed returns its summary and an error wrapping ErrSpecsFailed.
func Run(ctx context.Context, master Node, o Options) (*Summary, error) {
	if o.RemoteDir == "" {
		o.RemoteDir = RemoteDir
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = roles.AdminKubeconfig
	}
	if o.Kubectl == "" {
		o.Kubectl = roles.BinDir + "/kubectl"
	}
	if o.Grace <= 0 {
		o.Grace = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	sum, _, err := filehash.SHA256(o.E2ETest)
	if err != nil {
		return nil, fmt.Errorf("the e2e suite's binary: %w", err)
	}
	remoteBin := path.Join(o.RemoteDir, "e2e.test")
	if err := ensureBinary(ctx, master, o.E2ETest, remoteBin, sum, progress); err != nil {
		return nil, err
	}

	dir := filepath.Join(o.StateDir, ResultsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logTmp, err := os.CreateTemp(dir, "."+LogFile+"-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(logTmp.Name())
	defer logTmp.Close()
	log := &lockedWriter{w: logTmp}

	selected, leftOut := o.selected()
	prog := &Progress{Names: selected}
	prog.OnStart = func(total, of int) {
		fmt.Fprintf(progress, "conformance: the suite runs %d of its %d specs on %s\n", total, of, master.Host())
	}
	prog.OnSpec = func(done int, r SpecResult) {
		fmt.Fprintf(progress, "[%d/%d] %-7s %s (%s)\n", done, prog.Total, strings.ToUpper(r.State), r.Name, r.Elapsed().Round(time.Second))
		if r.State != StatePassed && r.Message != "" {
			fmt.Fprintf(progress, "        %s\n", firstLines(r.Message, 2))
		}
	}
	prog.OnSuiteFailure = func(node, msg string) {
		fmt.Fprintf(progress, "conformance: the suite's %s failed: %s\n", node, msg)
	}
	stdout := io.Writer(io.MultiWriter(log, prog))
	stderr := io.Writer(log)
	if o.Output != nil {
		stdout, stderr = io.MultiWriter(stdout, o.Output), io.MultiWriter(stderr, o.Output)
	}

	s := &Summary{Cluster: o.Cluster, Kubernetes: o.Kubernetes, Master: master.Host(), E2ETestSHA256: sum, Selection: o.Selection,
		LeftOut: leftOut, Started: o.Now().UTC().Truncate(time.Second), Log: filepath.Join(ResultsDir, LogFile)}
	argv := append([]string{"sh", "-c", runScript, "kisgen-conformance", o.RemoteDir}, o.suiteArgs(remoteBin)...)
	code, err := master.Stream(ctx, true, nil, stdout, stderr, o.Grace, argv...)
	prog.Flush()
	s.Seconds = o.Now().Sub(s.Started).Round(time.Second).Seconds()
	s.ExitCode = code
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("%w: %v", ErrRemote, err)
	}
	if code == exitLocked {
		return nil, fmt.Errorf("%w: another kisgen conformance run is in progress on %s (it holds %s/lock)", ErrRemote, master.Host(), o.RemoteDir)
	}
	if err := logTmp.Sync(); err != nil {
		return nil, err
	}
	if err := logTmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(logTmp.Name(), filepath.Join(dir, LogFile)); err != nil {
		return nil, err
	}

	// The report: read back even after an interruption, which the suite reports too.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var rep *Report
	junit, rerr := master.Run(rctx, true, "cat", path.Join(o.RemoteDir, "report", JUnitFile))
	if rerr == nil {
		if rep, rerr = ParseJUnit(junit); rerr == nil {
			if err := atomicfile.WriteFile(filepath.Join(dir, JUnitFile), junit, 0o644); err != nil {
				return nil, err
			}
			s.JUnit = filepath.Join(ResultsDir, JUnitFile)
		}
	} else {
		// A stale report must not pass for this run's.
		_ = os.Remove(filepath.Join(dir, JUnitFile))
	}
	s.Tally(rep, prog)
	if rep == nil && s.Selected == 0 && code != 0 {
		s.SuiteFailures = append(s.SuiteFailures, fmt.Sprintf("e2e.test exited %d before it ran a spec: %s", code, lastLines(log.tail(), 5)))
	}
	if err := s.Save(o.StateDir); err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return s, fmt.Errorf("conformance run interrupted: %w (partial results saved)", context.Cause(ctx))
	}
	if !s.OK() {
		return s, fmt.Errorf("%w: %d of %d failed, %d not run", ErrSpecsFailed, s.Failed, s.Selected, s.NotRun)
	}
	return s, nil
}

// ensureBinary copies the suite's binary to the master unless the one there has the
// same sum, and checks the copy's sum.
func ensureBinary(ctx context.Context, master Node, local, remote, sum string, progress io.Writer) error {
	if have, err := remoteSum(ctx, master, remote); err == nil && have == sum {
		fmt.Fprintf(progress, "conformance: %s already has this e2e.test (%s)\n", master.Host(), remote)
		return nil
	}
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	t0 := time.Now()
	fmt.Fprintf(progress, "conformance: copying e2e.test (%d MiB) to %s:%s\n", st.Size()>>20, master.Host(), remote)
	var stderr bytes.Buffer
	code, err := master.Stream(ctx, true, f, io.Discard, &stderr, 10*time.Second, "sh", "-c", uploadScript, "kisgen-upload", remote)
	if err != nil {
		return fmt.Errorf("%w: copying e2e.test to %s: %v", ErrRemote, master.Host(), err)
	}
	if code != 0 {
		return fmt.Errorf("%w: copying e2e.test to %s:%s exited %d: %s", ErrRemote, master.Host(), remote, code, strings.TrimSpace(stderr.String()))
	}
	have, err := remoteSum(ctx, master, remote)
	if err != nil {
		return err
	}
	if have != sum {
		return fmt.Errorf("%w: the copy of e2e.test on %s has sha256 %s, the local one %s", ErrRemote, master.Host(), have, sum)
	}
	fmt.Fprintf(progress, "conformance: copied in %s\n", time.Since(t0).Round(time.Second))
	return nil
}

func remoteSum(ctx context.Context, n Node, file string) (string, error) {
	out, err := n.Run(ctx, true, "sha256sum", file)
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return "", fmt.Errorf("%w: sha256sum %s printed nothing", ErrRemote, file)
	}
	return f[0], nil
}

// suiteArgs are e2e.test's arguments: the admin kubeconfig and kubectl kisgen installs
// on masters, no cloud provider, the cluster's DNS domain, the report folder, the
// taints that must not hold the suite back, ginkgo's selection, its verbose output
// (which Progress reads) and the suite timeout.
func (o Options) suiteArgs(bin string) []string {
	args := []string{bin,
		"--kubeconfig=" + o.Kubeconfig,
		"--kubectl-path=" + o.Kubectl,
		"--provider=skeleton",
		"--dns-domain=" + pki.ClusterDomain,
		"--report-dir=report",
		"--e2e-output-dir=output",
	}
	if len(o.NonBlockingTaints) > 0 {
		taints := append([]string(nil), o.NonBlockingTaints...)
		sort.Strings(taints)
		args = append(args, "--non-blocking-taints="+strings.Join(taints, ","))
	}
	for _, f := range o.Selection.Focus {
		args = append(args, "--ginkgo.focus="+f)
	}
	for _, s := range o.Selection.Skip {
		args = append(args, "--ginkgo.skip="+s)
	}
	args = append(args, "--ginkgo.v", "--ginkgo.no-color")
	if o.Selection.Timeout > 0 {
		args = append(args, "--ginkgo.timeout="+o.Selection.Timeout.String())
	}
	return args
}

// selected are the names of the specs the selection runs and the specs kisgen leaves
// out, when the suite's specs are known.
func (o Options) selected() ([]string, []Unrunnable) {
	left, err := LeftOut(o.Specs, o.Selection)
	if err != nil {
		left = o.Selection.Unrunnable
	}
	if len(o.Specs) == 0 {
		return nil, left
	}
	sel, err := Selected(o.Specs, o.Selection)
	if err != nil {
		return nil, left
	}
	names := make([]string, len(sel))
	for i, sp := range sel {
		names[i] = sp.Name
	}
	return names, left
}

// lockedWriter serializes writes from the session's stdout and stderr copies and keeps
// the last few KiB for an error message.
type lockedWriter struct {
	mu   sync.Mutex
	w    io.Writer
	last []byte
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = append(l.last, b...)
	if len(l.last) > 8192 {
		l.last = l.last[len(l.last)-8192:]
	}
	return l.w.Write(b)
}

func (l *lockedWriter) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.last)
}

// lastLines keeps the last n non-empty lines of s, joined with " / ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
