package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/conformance"
	"github.com/kisgen/kisgen/plan"
)

// fakeSuite writes a stand-in e2e.test that lists the specs of conformance's testdata
// (real e2e.test v1.37.2 --list-tests lines), as the real one does without a cluster.
func fakeSuite(t *testing.T) string {
	t.Helper()
	list, err := filepath.Abs(filepath.Join("..", "conformance", "testdata", "list-tests.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "e2e.test")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n[ \"$1\" = --list-tests ] && exec cat "+list+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConformanceRunDryRun(t *testing.T) {
	p := planDir(t, "minimal.yaml")
	e2e := fakeSuite(t)
	code, out, errOut := run(t, nil, "conformance", "run", "-f", p, "--e2e-test", e2e, "--dry-run", "--mode", "quick")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"# conformance quick: 5 of the suite's 16 specs\n",
		"\n[sig-network] DNS should provide DNS for services [Conformance]\n",
		"\n[sig-network] Services should be able to create a functioning NodePort service [Conformance]\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = run(t, nil, "conformance", "run", "-f", p, "--e2e-test", e2e, "--dry-run", "--mode", "certified")
	if code != 0 || !strings.Contains(out, "# left out by kisgen: runs registry.k8s.io/e2e-test-images/nautilus:1.8") ||
		!strings.Contains(out, "#   [sig-cli] Kubectl client Update Demo should scale a replication controller [Conformance]") {
		t.Errorf("certified dry run: exit %d\n%s%s", code, out, errOut)
	}
	// quick names specs one by one: the stand-in suite has them all, so no warning.
	if strings.Contains(errOut, "WARNING") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestConformanceRunUsageErrors(t *testing.T) {
	p := planDir(t, "minimal.yaml")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "full"}, `unknown conformance mode "full": use network, quick, certified`},
		{[]string{"--focus", "("}, `invalid regular expression: --focus "("`},
		{[]string{"--skip", "[x"}, `invalid regular expression: --skip "[x"`},
		{[]string{"--mirror-dir", "m"}, "--mirror-dir is for --import-images"},
		{[]string{"--timeout", "-1h"}, "--timeout must not be negative"},
	} {
		code, out, errOut := run(t, nil, append([]string{"conformance", "run", "-f", p}, tc.args...)...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, want 2 with %q\n%s%s", tc.args, code, tc.want, out, errOut)
		}
	}
	code, _, errOut := run(t, nil, "conformance", "run", "-f", p, "--e2e-test", filepath.Join(t.TempDir(), "none"))
	if code != ExitFail || !strings.Contains(errOut, "--e2e-test") {
		t.Errorf("a missing --e2e-test: exit %d\n%s", code, errOut)
	}
}

func TestConformanceResults(t *testing.T) {
	p := planDir(t, "minimal.yaml")
	state := filepath.Join(filepath.Dir(p), plan.DefaultStateDirName)
	code, _, errOut := run(t, nil, "conformance", "results", "-f", p)
	if code != ExitFail || !strings.Contains(errOut, "no conformance results in "+filepath.Join(state, "conformance")+": run `kisgen conformance run` first") {
		t.Errorf("no results: exit %d\n%s", code, errOut)
	}

	sel, err := conformance.Select(conformance.ModeQuick, "v1.37.2", "", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &conformance.Summary{Cluster: "minimal", Kubernetes: "v1.37.2", Master: "master1", Selection: sel,
		Started: time.Date(2026, 12, 6, 21, 0, 0, 0, time.UTC), Seconds: 754, Selected: 5, Of: 3206, Passed: 5,
		SuiteLines: []string{"Ran 5 of 3206 Specs in 750.1 seconds", "SUCCESS! -- 5 Passed | 0 Failed | 0 Pending | 3201 Skipped"},
		JUnit:      "conformance/junit_01.xml", Log: "conformance/e2e.log"}
	if err := s.Save(state); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, nil, "conformance", "results", "-f", p)
	if code != 0 || !strings.Contains(out, "conformance quick PASSED: cluster minimal, Kubernetes v1.37.2, run on master1, 2026-12-06 21:00 UTC, took 12m34s") ||
		!strings.Contains(out, "  suite: SUCCESS! -- 5 Passed | 0 Failed | 0 Pending | 3201 Skipped") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "conformance", "results", "-f", p, "-o", "json")
	var got conformance.Summary
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Passed != 5 || got.Selection.Mode != conformance.ModeQuick {
		t.Errorf("-o json: exit %d\n%s", code, out)
	}
	if code, _, errOut := run(t, nil, "conformance", "results", "-f", p, "-o", "yaml"); code != ExitUsage || !strings.Contains(errOut, "use text or json") {
		t.Errorf("-o yaml: exit %d %s", code, errOut)
	}

	s.Passed, s.Failed = 4, 1
	s.Failures = []conformance.SpecResult{{Name: "[sig-network] DNS should provide DNS for services [Conformance]", State: "failed", Seconds: 300,
		Message: "timed out waiting for the condition", Location: "k8s.io/kubernetes@v1.37.2/test/e2e/network/dns_common.go:476"}}
	if err := s.Save(state); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, nil, "conformance", "results", "-f", p)
	if code != ExitFail || !strings.Contains(out, "  FAILED [sig-network] DNS should provide DNS for services [Conformance] (5m0s)\n      timed out waiting for the condition\n      at k8s.io/kubernetes@v1.37.2/test/e2e/network/dns_common.go:476") {
		t.Errorf("a failed run: exit %d\n%s", code, out)
	}
}
