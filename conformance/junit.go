package conformance

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// JUnitFile is the report the suite writes into its --report-dir (the e2e framework's
// shortened JUnit, test/e2e/framework/internal/junit).
const JUnitFile = "junit_01.xml"

// junitSuites is the part of the report kisgen reads.
type junitSuites struct {
	Suites []struct {
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

type junitCase struct {
	Name    string `xml:"name,attr"`
	Status  string `xml:"status,attr"`
	Time    string `xml:"time,attr"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	// Failure is a failed or timed-out spec's; Error a panicked, interrupted or
	// aborted one's (ginkgo's JUnit reporter).
	Failure *junitFailure `xml:"failure"`
	Error   *junitFailure `xml:"error"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// Report is what a JUnit report says about a run.
type Report struct {
	// Specs are the specs that ran (passed, failed, or skipped by the suite itself while
	// running, e.g. for a provider it is not), in the report's order (by name).
	Specs []SpecResult
	// SuiteFailures are the suite's own nodes that failed ("NODE: message").
	SuiteFailures []string
	// SpecialFailure is ginkgo's reason for a failed suite beyond its specs ("Suite
	// Timeout Elapsed", "Interrupted by User").
	SpecialFailure string
}

// filterSkipped is the message of a spec the focus and skip expressions left out (or
// that an interruption kept from running): it did not run.
const filterSkipped = "skipped"

// ParseJUnit reads the suite's JUnit report.
func ParseJUnit(data []byte) (*Report, error) {
	var doc junitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: the JUnit report does not parse: %v", ErrRemote, err)
	}
	if len(doc.Suites) == 0 {
		return nil, fmt.Errorf("%w: the JUnit report has no test suite", ErrRemote)
	}
	rep := &Report{}
	for _, s := range doc.Suites {
		for _, p := range s.Properties {
			if p.Name == "SpecialSuiteFailureReason" && p.Value != "" {
				rep.SpecialFailure = p.Value
			}
		}
		for _, c := range s.Cases {
			secs, _ := strconv.ParseFloat(c.Time, 64)
			if c.Failure == nil {
				c.Failure = c.Error
			}
			name, isSpec := strings.CutPrefix(c.Name, "[It] ")
			if !isSpec {
				if c.Status != StatePassed && c.Status != StateSkipped {
					msg := ""
					if c.Failure != nil {
						msg, _ = failureText(c.Failure.Text)
					}
					rep.SuiteFailures = append(rep.SuiteFailures, strings.TrimSpace(c.Name)+": "+msg)
				}
				continue
			}
			r := SpecResult{Name: name, State: c.Status, Seconds: secs}
			switch {
			case c.Status == StateSkipped && c.Skipped != nil && c.Skipped.Message == filterSkipped:
				continue
			case c.Status == StateSkipped && c.Skipped != nil:
				r.Message = strings.TrimPrefix(c.Skipped.Message, "skipped - ")
			case c.Failure != nil:
				r.Message, r.Location = failureText(c.Failure.Text)
				if r.Message == "" {
					r.Message = c.Failure.Message
				}
			}
			rep.Specs = append(rep.Specs, r)
		}
	}
	return rep, nil
}

// failureText takes a failure's first line (without ginkgo's "[FAILED] " tag) and where
// it happened ("In [It] at: FILE:LINE @ TIME").
func failureText(text string) (msg, location string) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) == 0 {
		return "", ""
	}
	msg = strings.TrimSpace(lines[0])
	if i := strings.Index(msg, "] "); strings.HasPrefix(msg, "[") && i > 0 {
		msg = msg[i+2:]
	}
	for _, l := range lines[1:] {
		if m := inAt.FindStringSubmatch(" " + strings.TrimSpace(l)); m != nil {
			location = m[1]
			break
		}
	}
	return msg, location
}
