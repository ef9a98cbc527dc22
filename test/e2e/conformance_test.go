//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kisgen/kisgen/conformance"
	"github.com/kisgen/kisgen/plan"
)

// conformanceOff is KISGEN_E2E_CONFORMANCE's value that leaves the suite out.
const conformanceOff = "off"

// conformanceMode is the mode of Kubernetes' e2e suite that a cluster test runs after
// its own checks: KISGEN_E2E_CONFORMANCE (network, quick, certified, or off), off by
// default (make e2e-conformance sets network): the suite, its build and its images take
// hours under emulation.
func conformanceMode(t *testing.T) string {
	t.Helper()
	m := os.Getenv("KISGEN_E2E_CONFORMANCE")
	if m == "" || m == conformanceOff {
		return conformanceOff
	}
	if _, err := conformance.ParseMode(m); err != nil {
		t.Fatalf("KISGEN_E2E_CONFORMANCE: %v (or %s)", err, conformanceOff)
	}
	return m
}

// conformanceArchives are the e2e image archives the plan lists so that the nodes import
// the images the mode's specs run (kisgen mirror build writes the ones the plan lists).
func conformanceArchives(p *plan.Plan, mode string) []string {
	if mode == conformanceOff {
		return nil
	}
	var out []string
	for _, img := range conformance.RequiredImages(p, conformance.Mode(mode)) {
		out = append(out, img.Archive)
	}
	return out
}

// conformance runs `kisgen conformance run` on the booted cluster (its progress goes to
// the test log as it comes), prints the suite's own closing lines and every failure
// from the summary it kept, and fails the test when a spec failed, the suite itself
// failed or a spec did not run. KISGEN_E2E_CONFORMANCE_TIMEOUT bounds the suite (4h).
func (r *e2eRun) conformance(mode string) {
	t := r.t
	timeout := envDuration("KISGEN_E2E_CONFORMANCE_TIMEOUT", 4*time.Hour)
	err := runErr(t, r.work, r.logFile, timeout+30*time.Minute, "conformance", "run", "-f", r.planFile, "--mode", mode,
		"--timeout", timeout.String(),
		// emulated VMs on shared cores answer slowly
		"--dial-timeout", "60s")
	s, lerr := conformance.Load(filepath.Join(filepath.Dir(r.planFile), plan.DefaultStateDirName))
	if lerr != nil {
		t.Errorf("conformance %s: no summary: %v", mode, lerr)
	} else {
		t.Logf("conformance %s: %d specs selected (of %d), %d passed, %d failed, %d skipped by the suite, %d not run, in %s",
			mode, s.Selected, s.Of, s.Passed, s.Failed, s.Skipped, s.NotRun, time.Duration(s.Seconds)*time.Second)
		for _, l := range s.SuiteLines {
			t.Logf("suite: %s", l)
		}
		for _, f := range s.SuiteFailures {
			t.Errorf("conformance %s: the suite failed: %s", mode, f)
		}
		for _, f := range s.Failures {
			t.Errorf("conformance %s: %s %s: %s (%s)", mode, f.State, f.Name, f.Message, f.Location)
		}
		for _, sk := range s.SkippedSpecs {
			t.Logf("skipped by the suite: %s: %s", sk.Name, sk.Message)
		}
		if s.NotRun > 0 {
			t.Errorf("conformance %s: %d selected specs did not run", mode, s.NotRun)
		}
	}
	if err != nil {
		t.Errorf("conformance %s: %v", mode, err)
	}
}
