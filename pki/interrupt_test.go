package pki

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/kisgen/kisgen/plan"
)

// The test binary runs Ensure in a child process when these are set, so that a test
// can kill it in the middle of a run.
const (
	childDirEnv    = "KISGEN_PKI_TEST_CHILD_DIR"
	childRotateEnv = "KISGEN_PKI_TEST_CHILD_ROTATE"
	childWorkers   = 150
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		p, rep := plan.Parse("child.yaml", planYAML(3, 3, childWorkers), plan.Options{})
		if rep.IsFatal(false) {
			fmt.Fprintln(os.Stderr, rep.Summary())
			os.Exit(2)
		}
		if _, _, err := Ensure(p, dir, Options{RotateAll: os.Getenv(childRotateEnv) != ""}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestAKilledRunLeavesAUsableState kills Ensure (SIGKILL, as a crash would stop the
// process) at growing delays, first while it creates a 156-node PKI from scratch, then
// while it reissues every leaf of one, and checks after each kill that the next run
// repairs the state, that every certificate verifies, and that the CAs never change
// once they exist.
func TestAKilledRunLeavesAUsableState(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process a dozen times")
	}
	p := genPlan(t, 3, 3, childWorkers)
	full := 0
	partial := 0
	// kill runs Ensure in a child, kills it after delay, then repairs with Ensure.
	kill := func(dir string, delay time.Duration, rotate bool) int {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
		if rotate {
			cmd.Env = append(cmd.Env, childRotateEnv+"=1")
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		b, repaired, err := Ensure(p, dir, Options{})
		if err != nil {
			t.Fatalf("after a kill at %v: %v", delay, err)
		}
		t.Logf("killed after %v (%s); the next run made %d changes", delay, cmd.ProcessState, len(repaired))
		verifyAll(t, p, b, time.Now())
		if _, err := Load(dir); err != nil {
			t.Fatalf("Load after a kill at %v and a repair: %v", delay, err)
		}
		return len(repaired)
	}
	// The kills are spread over the time an uninterrupted child run takes here, so they
	// land in the middle on a fast machine, a loaded one or under -race alike.
	t0 := time.Now()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childDirEnv+"="+t.TempDir())
	if out, err := child.CombinedOutput(); err != nil {
		t.Fatalf("an uninterrupted child run: %v\n%s", err, out)
	}
	run := time.Since(t0)
	t.Logf("an uninterrupted child run takes %v", run.Round(time.Millisecond))
	for _, delay := range []time.Duration{0, run / 16, run / 8, run / 4, run / 2, run * 3 / 4} {
		dir := t.TempDir()
		n := kill(dir, delay, false)
		if delay == 0 {
			full = n
		} else if n > 0 && n < full {
			partial++
		}
	}
	if partial == 0 {
		t.Errorf("no kill landed in the middle of a fresh run: the test proved nothing (full run: %d changes)", full)
	}

	dir := t.TempDir()
	mustEnsure(t, p, dir, Options{})
	cas := caFiles(t, dir)
	for _, delay := range []time.Duration{run / 32, run / 8, run / 4, run / 2} {
		kill(dir, delay, true)
		for k, v := range caFiles(t, dir) {
			if cas[k] != v {
				t.Fatalf("after a kill at %v: %s changed", delay, k)
			}
		}
	}
}
