package conformance

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spec states, as the suite's JUnit report writes them (ginkgo's SpecState).
const (
	StatePassed      = "passed"
	StateFailed      = "failed"
	StateSkipped     = "skipped"
	StateTimedOut    = "timedout"
	StatePanicked    = "panicked"
	StateInterrupted = "interrupted"
	StateAborted     = "aborted"
)

// SpecResult is how one spec ended.
type SpecResult struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Seconds is how long it ran.
	Seconds float64 `json:"seconds,omitempty"`
	// Message is the failure's or the skip's first lines; Location where it happened.
	Message  string `json:"message,omitempty"`
	Location string `json:"location,omitempty"`
}

// Failed says whether the spec's state is a failure of any kind.
func (r SpecResult) Failed() bool {
	switch r.State {
	case StatePassed, StateSkipped:
		return false
	}
	return true
}

// Progress reads the suite's output (e2e.test with --ginkgo.v --ginkgo.no-color) as it
// comes, line by line, and reports the start, each spec as it ends, and failures of the
// suite's own nodes (its setup, the suite timeout). It is an io.Writer for the suite's
// standard output; it never fails a write, so the output keeps flowing to the log.
//
// Ginkgo prints, for each spec it runs in series: a separator line, the spec's text
// followed by its labels, its location, the spec's own log, then "• [12.3 seconds]" when
// it passed, or "• [FAILED] [12.3 seconds]" (S [SKIPPED], [TIMEDOUT], [PANICKED],
// [INTERRUPTED]) followed by the spec's text, location and the failure.
type Progress struct {
	// Names are the names of the specs the run selects, when known: a header's name is
	// the one it starts with (labels follow it). Without them the group of labels at the
	// end of the header is recognised as such and cut off.
	Names []string
	// OnStart is called once with how many specs the suite will run, of how many.
	OnStart func(total, of int)
	// OnSpec is called as each spec ends, with how many have ended.
	OnSpec func(done int, r SpecResult)
	// OnSuiteFailure is called when one of the suite's own nodes fails (its setup, a
	// report, the suite timeout), with the node and its message.
	OnSuiteFailure func(node, message string)

	mu      sync.Mutex
	partial []byte
	// Total is how many specs the suite said it will run, Of of how many it has.
	Total, Of int
	// Done counts the specs that ended; Results holds them in order.
	Done    int
	Results []SpecResult
	// SuiteFailures are the suite nodes that failed, "NODE: message".
	SuiteFailures []string
	// SuiteLines are the suite's own summary lines ("Ran 47 of 3206 Specs in …",
	// "SUCCESS! -- 47 Passed | 0 Failed | …", "FAIL! - Suite Timeout Elapsed -- …").
	SuiteLines []string

	state   progressState
	current string // the running spec's name
	node    string // the suite node whose header was last seen
	pending *SpecResult
	// afterHeader counts the header lines of a failure's block still to pass (its
	// name and location) before the failure's own lines.
	afterHeader int
}

type progressState int

const (
	stateOutside   progressState = iota // between blocks
	stateHeader                         // after a separator: the next line names a spec or a suite node
	stateInSpec                         // a spec (or node) is running
	stateFailBlock                      // after a failed spec's end line, up to the separator
)

const separator = "------------------------------"

var (
	willRun = regexp.MustCompile(`^Will run (\d+) of (\d+) specs`)
	// specEnd is a spec's end line: "• [0.02 seconds]", "• [FAILED] [1.2 seconds]",
	// "S [SKIPPED] [0.02 seconds]", "• [FLAKEY TEST - TOOK 2 ATTEMPTS TO PASS] [3 seconds]".
	specEnd = regexp.MustCompile(`^(\S) (?:\[([A-Z][A-Z0-9 -]*)\] )?\[([0-9.]+) seconds\]$`)
	// nodeEnd is a suite node's end line: "[SynchronizedBeforeSuite] PASSED [0.01 seconds]",
	// "[SynchronizedBeforeSuite] [FAILED] [0.007 seconds]".
	nodeEnd = regexp.MustCompile(`^(\[[A-Za-z]+(?: \(Suite\))?\]) (?:PASSED|\[([A-Z]+)\]) \[[0-9.]+ seconds\]$`)
	// failureLine starts a failure's description: "  [FAILED] message", "  [TIMEDOUT] …".
	failureLine = regexp.MustCompile(`^\s+\[(FAILED|TIMEDOUT|PANICKED|INTERRUPTED|ABORTED|SKIPPED)\] (.*)$`)
	// inAt is the failure's location: "  In [It] at: FILE:LINE @ TIME".
	inAt = regexp.MustCompile(`^\s+In \[[A-Za-z]+\] at: (\S+)`)
)

// suiteNodes are the headers of the suite's own nodes (not specs).
var suiteNodes = []string{"[ReportBeforeSuite]", "[BeforeSuite]", "[SynchronizedBeforeSuite]", "[AfterSuite]",
	"[SynchronizedAfterSuite]", "[ReportAfterSuite]", "[DeferCleanup (Suite)]"}

// Write takes the output as it comes; complete lines are read at once.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.line(strings.TrimRight(string(p.partial[:i]), "\r"))
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

// Flush reads a last line without its newline and ends a failure block in progress.
func (p *Progress) Flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.partial) > 0 {
		p.line(string(p.partial))
		p.partial = nil
	}
	p.finishFailure()
}

func (p *Progress) line(l string) {
	if l == separator {
		p.finishFailure()
		p.state = stateHeader
		return
	}
	if m := willRun.FindStringSubmatch(l); m != nil {
		p.Total, _ = strconv.Atoi(m[1])
		p.Of, _ = strconv.Atoi(m[2])
		if p.OnStart != nil {
			p.OnStart(p.Total, p.Of)
		}
		return
	}
	if strings.HasPrefix(l, "Ran ") && strings.Contains(l, " Specs in ") ||
		strings.HasPrefix(l, "SUCCESS! ") || strings.HasPrefix(l, "FAIL! ") {
		p.SuiteLines = append(p.SuiteLines, l)
		return
	}
	switch p.state {
	case stateHeader:
		if strings.TrimSpace(l) == "" || strings.Trim(l, "S") == "" {
			return
		}
		p.state = stateInSpec
		p.current, p.node = "", ""
		for _, n := range suiteNodes {
			if strings.HasPrefix(l, n) {
				p.node = n
				return
			}
		}
		p.current = p.specName(l)
	case stateInSpec:
		if m := nodeEnd.FindStringSubmatch(l); m != nil && p.node != "" {
			if m[2] != "" {
				p.pending = &SpecResult{Name: p.node, State: strings.ToLower(m[2])}
				p.state, p.afterHeader = stateFailBlock, 2
			} else {
				p.state = stateOutside
			}
			return
		}
		m := specEnd.FindStringSubmatch(l)
		if m == nil || p.node != "" {
			return
		}
		secs, _ := strconv.ParseFloat(m[3], 64)
		r := SpecResult{Name: p.current, State: StatePassed, Seconds: secs}
		switch label := m[2]; {
		case label == "":
		case strings.HasPrefix(label, "FLAKEY"):
			// Passed after retries: ginkgo counts it passed.
		default:
			r.State = strings.ToLower(label)
		}
		if r.State == StatePassed {
			p.record(r)
			p.state = stateOutside
			return
		}
		p.pending = &r
		p.state, p.afterHeader = stateFailBlock, 2
	case stateFailBlock:
		if p.afterHeader > 0 {
			p.afterHeader--
			return
		}
		if p.pending.Message == "" {
			if m := failureLine.FindStringSubmatch(l); m != nil {
				p.pending.Message = m[2]
			}
			return
		}
		if p.pending.Location == "" {
			if m := inAt.FindStringSubmatch(l); m != nil {
				p.pending.Location = m[1]
			}
		}
	}
}

// specName finds the spec's name in its header line: the known name it starts with,
// else the line without its trailing group of labels ("[sig-network, Conformance]").
func (p *Progress) specName(header string) string {
	best := ""
	for _, n := range p.Names {
		if (header == n || strings.HasPrefix(header, n+" [")) && len(n) > len(best) {
			best = n
		}
	}
	if best != "" {
		return best
	}
	// Ginkgo prints the labels as "[a, b]"; the suite's labels are the spec's own tags,
	// so each is in the name before the group as "[a]". A spec without labels ends in
	// its last tag, which is in the name nowhere else.
	i := strings.LastIndex(header, " [")
	if i <= 0 || !strings.HasSuffix(header, "]") {
		return header
	}
	name := header[:i]
	for _, l := range strings.Split(header[i+2:len(header)-1], ", ") {
		if !strings.Contains(name, "["+l+"]") {
			return header
		}
	}
	return name
}

// finishFailure reports the failed spec or suite node whose block ended.
func (p *Progress) finishFailure() {
	if p.pending == nil {
		return
	}
	r := *p.pending
	p.pending = nil
	p.state = stateOutside
	if p.node != "" {
		msg := r.Message
		if r.Location != "" {
			msg += " (" + r.Location + ")"
		}
		p.SuiteFailures = append(p.SuiteFailures, r.Name+": "+msg)
		if p.OnSuiteFailure != nil {
			p.OnSuiteFailure(r.Name, msg)
		}
		return
	}
	p.record(r)
}

func (p *Progress) record(r SpecResult) {
	p.Done++
	p.Results = append(p.Results, r)
	if p.OnSpec != nil {
		p.OnSpec(p.Done, r)
	}
}

// Elapsed is a spec's duration from its seconds.
func (r SpecResult) Elapsed() time.Duration {
	return time.Duration(r.Seconds * float64(time.Second))
}
