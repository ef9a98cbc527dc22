package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// summaryOf tallies a recorded run (its output and JUnit report).
func summaryOf(t *testing.T, name string, withReport bool) *Summary {
	t.Helper()
	out, err := os.ReadFile(filepath.Join("testdata", name+".stdout"))
	if err != nil {
		t.Fatal(err)
	}
	p := &Progress{}
	feed(p, out, 3)
	var rep *Report
	if withReport {
		data, err := os.ReadFile(filepath.Join("testdata", name+".junit.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if rep, err = ParseJUnit(data); err != nil {
			t.Fatal(err)
		}
	}
	sel, err := Select(ModeCertified, "v1.37.2", "Kubectl version|host IP|Services should find", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &Summary{Cluster: "lab", Kubernetes: "v1.37.2", Master: "master1", Selection: sel, ExitCode: 1,
		Started: time.Date(2026, 12, 6, 20, 53, 14, 0, time.UTC), Seconds: 31, JUnit: "conformance/junit_01.xml", Log: "conformance/e2e.log"}
	s.Tally(rep, p)
	return s
}

// TestSummaryText is the text `kisgen conformance results` prints for the real timed-out
// run: counts, the failure with its message and place, the suite's own lines.
func TestSummaryText(t *testing.T) {
	s := summaryOf(t, "timedout", true)
	var b bytes.Buffer
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `conformance certified FAILED: cluster lab, Kubernetes v1.37.2, run on master1, 2026-12-06 20:53 UTC, took 31s
  3 specs selected (of 3206): 1 passed, 1 failed, 0 skipped by the suite, 1 not run
  suite failure: Suite Timeout Elapsed
  TIMEDOUT [sig-node] Pods should get a host IP [Conformance] [NodeConformance] (29s)
      A suite timeout occurred
      at k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:208
  suite: Ran 2 of 3206 Specs in 30.073 seconds
  suite: FAIL! - Suite Timeout Elapsed -- 1 Passed | 1 Failed | 0 Pending | 3204 Skipped
  focus: Kubectl version|host IP|Services should find
  JUnit report: conformance/junit_01.xml
  the suite's output: conformance/e2e.log
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

// TestSummaryWithoutReport: when the suite wrote no report (killed, crashed), what its
// output said as it came is the summary.
func TestSummaryWithoutReport(t *testing.T) {
	with, without := summaryOf(t, "timedout", true), summaryOf(t, "timedout", false)
	if with.Passed != without.Passed || with.Failed != without.Failed || with.NotRun != without.NotRun {
		t.Errorf("from the report %d/%d/%d, from the output %d/%d/%d (passed/failed/not run)",
			with.Passed, with.Failed, with.NotRun, without.Passed, without.Failed, without.NotRun)
	}
}

func TestSummarySaveAndLoad(t *testing.T) {
	state := t.TempDir()
	if _, err := Load(state); !errors.Is(err, ErrNoResults) {
		t.Errorf("Load of an empty state = %v, want ErrNoResults", err)
	}
	s := summaryOf(t, "passed-and-skipped", true)
	s.ExitCode = 0
	if !s.OK() {
		t.Fatalf("summary %+v is not OK", s)
	}
	if err := s.Save(state); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(state, ResultsDir, SummaryFile))
	if err := s.Save(state); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(state, ResultsDir, SummaryFile))
	if !bytes.Equal(first, second) {
		t.Error("saving the same summary twice gave different bytes")
	}
	got, err := Load(state)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("loaded (-saved +loaded):\n%s", diff)
	}
	var b bytes.Buffer
	if err := got.WriteJSON(&b); err != nil || !json.Valid(b.Bytes()) {
		t.Errorf("JSON: %v\n%s", err, b.String())
	}
}
