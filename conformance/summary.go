package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kisgen/kisgen/internal/atomicfile"
)

// Files of a run in the state directory's ResultsDir.
const (
	// ResultsDir is the state directory's folder of the last run.
	ResultsDir = "conformance"
	// SummaryFile is the run's Summary as JSON, written last: its presence means the
	// run finished and the other files are its.
	SummaryFile = "summary.json"
	// LogFile is the suite's output as the master printed it.
	LogFile = "e2e.log"
)

// Summary is what a run found, as `kisgen conformance results` prints it.
type Summary struct {
	// Cluster is the plan's cluster name; Kubernetes the suite's version (the plan's).
	Cluster    string `json:"cluster"`
	Kubernetes string `json:"kubernetes"`
	// Master is the node the suite ran on.
	Master string `json:"master"`
	// E2ETestSHA256 identifies the suite's binary.
	E2ETestSHA256 string `json:"e2eTestSha256"`
	// Selection is the mode and the focus and skip expressions given to the suite.
	Selection Selection `json:"selection"`
	// Started is when the suite started; Seconds how long the run took.
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`

	// Selected is how many specs the suite said it would run (of Of); Passed, Failed
	// and Skipped (by the suite itself while running: not for this provider, a feature
	// missing) count those that ran, NotRun those it never got to (its setup failed, it
	// timed out or was interrupted).
	Selected int `json:"selected"`
	Of       int `json:"of"`
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	NotRun   int `json:"notRun"`
	// Failures and SkippedSpecs name those specs, sorted by name, with the messages.
	Failures     []SpecResult `json:"failures,omitempty"`
	SkippedSpecs []SpecResult `json:"skippedSpecs,omitempty"`
	// LeftOut are the specs of the mode kisgen skipped, with the reasons.
	LeftOut []Unrunnable `json:"leftOut,omitempty"`
	// SuiteFailures are failures of the suite itself (its setup, its timeout).
	SuiteFailures []string `json:"suiteFailures,omitempty"`
	// SuiteLines are the suite's own closing lines ("Ran 60 of 3206 Specs in …").
	SuiteLines []string `json:"suiteLines,omitempty"`
	// ExitCode is e2e.test's exit status.
	ExitCode int `json:"exitCode"`
	// JUnit and Log are the run's report and output, relative to the state directory.
	JUnit string `json:"junit,omitempty"`
	Log   string `json:"log"`
}

// OK says whether the run passed: the suite exited 0, every selected spec ran, none
// failed and the suite itself did not.
func (s *Summary) OK() bool {
	return s.ExitCode == 0 && s.Failed == 0 && s.NotRun == 0 && len(s.SuiteFailures) == 0
}

// Tally fills the counts and lists from the JUnit report (rep, when the suite wrote
// one) or else from what the output said as it came (prog).
func (s *Summary) Tally(rep *Report, prog *Progress) {
	s.Selected, s.Of = prog.Total, prog.Of
	results := prog.Results
	s.SuiteFailures = append([]string(nil), prog.SuiteFailures...)
	if rep != nil {
		results = rep.Specs
		s.SuiteFailures = rep.SuiteFailures
		if rep.SpecialFailure != "" && !containsPrefix(s.SuiteFailures, rep.SpecialFailure) {
			s.SuiteFailures = append(s.SuiteFailures, rep.SpecialFailure)
		}
	}
	s.SuiteLines = append([]string(nil), prog.SuiteLines...)
	s.Passed, s.Failed, s.Skipped = 0, 0, 0
	s.Failures, s.SkippedSpecs = nil, nil
	for _, r := range results {
		switch {
		case r.State == StatePassed:
			s.Passed++
		case r.State == StateSkipped:
			s.Skipped++
			s.SkippedSpecs = append(s.SkippedSpecs, r)
		default:
			s.Failed++
			s.Failures = append(s.Failures, r)
		}
	}
	if s.Selected == 0 {
		// The output never said: what ran is all there is to count.
		s.Selected = len(results)
	}
	if ran := s.Passed + s.Failed + s.Skipped; s.Selected > ran {
		s.NotRun = s.Selected - ran
	}
	byName := func(l []SpecResult) {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	}
	byName(s.Failures)
	byName(s.SkippedSpecs)
}

func containsPrefix(l []string, s string) bool {
	for _, x := range l {
		if strings.HasPrefix(x, s) || strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	verdict := "PASSED"
	if !s.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "conformance %s %s: cluster %s, Kubernetes %s, run on %s, %s, took %s\n", s.Selection.Mode, verdict, s.Cluster, s.Kubernetes,
		s.Master, s.Started.UTC().Format("2006-01-02 15:04 UTC"), (time.Duration(s.Seconds) * time.Second).String())
	fmt.Fprintf(&b, "  %d specs selected (of %d): %d passed, %d failed, %d skipped by the suite, %d not run\n",
		s.Selected, s.Of, s.Passed, s.Failed, s.Skipped, s.NotRun)
	for _, f := range s.SuiteFailures {
		fmt.Fprintf(&b, "  suite failure: %s\n", f)
	}
	for _, f := range s.Failures {
		fmt.Fprintf(&b, "  %s %s (%s)\n", strings.ToUpper(f.State), f.Name, f.Elapsed().Round(time.Second))
		if f.Message != "" {
			fmt.Fprintf(&b, "      %s\n", firstLines(f.Message, 3))
		}
		if f.Location != "" {
			fmt.Fprintf(&b, "      at %s\n", f.Location)
		}
	}
	for _, sk := range s.SkippedSpecs {
		fmt.Fprintf(&b, "  skipped by the suite: %s: %s\n", sk.Name, sk.Message)
	}
	for _, u := range s.LeftOut {
		fmt.Fprintf(&b, "  left out by kisgen (%d): %s\n", len(u.Specs), u.Reason)
		for _, n := range u.Specs {
			fmt.Fprintf(&b, "      %s\n", n)
		}
	}
	for _, l := range s.SuiteLines {
		fmt.Fprintf(&b, "  suite: %s\n", l)
	}
	fmt.Fprintf(&b, "  focus: %s\n", strings.Join(s.Selection.Focus, " | "))
	if len(s.Selection.Skip) > 0 {
		fmt.Fprintf(&b, "  skip: %s\n", strings.Join(s.Selection.Skip, " | "))
	}
	if s.JUnit != "" {
		fmt.Fprintf(&b, "  JUnit report: %s\n", s.JUnit)
	}
	fmt.Fprintf(&b, "  the suite's output: %s\n", s.Log)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the summary as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// Save writes the summary as the last run's in stateDir (atomically).
func (s *Summary) Save(stateDir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(stateDir, ResultsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, SummaryFile), append(data, '\n'), 0o644)
}

// Load reads the last run's summary from stateDir.
func Load(stateDir string) (*Summary, error) {
	p := filepath.Join(stateDir, ResultsDir, SummaryFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s: run `kisgen conformance run` first (or give the plan's --state)", ErrNoResults, filepath.Join(stateDir, ResultsDir))
	}
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &s, nil
}

// firstLines keeps the first n lines of s, joined with " / ".
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = append(lines[:n], "…")
	}
	return strings.Join(lines, " / ")
}
