package verify

import (
	"errors"
	"fmt"
	"time"
)

// Status is a check's outcome.
type Status string

const (
	// Pass: the check ran and found what was expected.
	Pass Status = "pass"
	// Fail: the check found something wrong, or could not get an answer.
	Fail Status = "fail"
	// Skip: the check does not apply to the node, nothing was expected of it, or an
	// earlier failure on the node prevents it; Detail says which.
	Skip Status = "skip"
)

// CheckResult is one check on one node.
type CheckResult struct {
	// Name is the check's stable identifier (see Checks).
	Name string `json:"name"`
	// Title says what the check proves.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Detail says what was found; for a failure, exactly what is wrong. It may hold
	// several lines (e.g. a unit's last journal lines).
	Detail string `json:"detail,omitempty"`
	// Reason is a stable code for SSH-level faults ("connection-refused", "timeout",
	// "host-key-mismatch", "auth-refused", "sudo-refused", "command-not-found",
	// "command-timeout", "connection-lost"), "" otherwise.
	Reason string `json:"reason,omitempty"`
	// Millis is how long the check took.
	Millis int64 `json:"ms"`
}

// NodeResult is every check on one node.
type NodeResult struct {
	Host string `json:"host"`
	Addr string `json:"addr"`
	// OK is true when no check failed.
	OK     bool          `json:"ok"`
	Checks []CheckResult `json:"checks"`
	// Millis is how long the node took.
	Millis int64 `json:"ms"`
	// interrupted is set when the run was cancelled while this node was checked, so its
	// result says more about the deadline than about the node.
	interrupted bool
	// sessions is how many SSH sessions the node's checks opened.
	sessions int
	// facts are what the node's checks found for the cluster checks.
	facts map[string]string
}

// FirstFailure returns the first failed check, or nil.
func (n *NodeResult) FirstFailure() *CheckResult {
	for i := range n.Checks {
		if n.Checks[i].Status == Fail {
			return &n.Checks[i]
		}
	}
	return nil
}

// Counts returns how many checks passed, failed and were skipped.
func (n *NodeResult) Counts() (pass, fail, skip int) {
	for _, c := range n.Checks {
		switch c.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			skip++
		}
	}
	return pass, fail, skip
}

// Report is the outcome of verifying every target.
type Report struct {
	// OK is true when no check failed on any node.
	OK bool `json:"ok"`
	// Nodes are in the order of the targets.
	Nodes []NodeResult `json:"nodes"`
	// Cluster are the checks of the cluster as a whole (clusterChecks), drawn from what
	// the nodes' checks found.
	Cluster []CheckResult `json:"cluster,omitempty"`
	// Rounds is how many times the nodes were checked (1 without Wait).
	Rounds int `json:"rounds"`
	// Started and Elapsed time the whole run.
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"-"`
}

// ok says whether every node and every cluster check passed.
func (r *Report) ok() bool {
	for _, n := range r.Nodes {
		if !n.OK {
			return false
		}
	}
	for _, c := range r.Cluster {
		if c.Status == Fail {
			return false
		}
	}
	return true
}

// Failing lists the hosts of the nodes that failed a check.
func (r *Report) Failing() []string {
	var out []string
	for _, n := range r.Nodes {
		if !n.OK {
			out = append(out, n.Host)
		}
	}
	return out
}

// NodeError is one node's failed check; errors.Is sees the fault (ErrHostKeyMismatch, …)
// or ErrCheckFailed.
type NodeError struct {
	Host, Check string
	Err         error
}

func (e *NodeError) Error() string { return e.Host + ": " + e.Check + ": " + e.Err.Error() }
func (e *NodeError) Unwrap() error { return e.Err }

// Err joins every failed check as a NodeError, or returns nil when all passed.
func (r *Report) Err() error {
	var errs []error
	for _, n := range r.Nodes {
		for _, c := range n.Checks {
			if c.Status != Fail {
				continue
			}
			err := errorForReason(c.Reason)
			errs = append(errs, &NodeError{Host: n.Host, Check: c.Name, Err: fmt.Errorf("%w: %s", err, firstLine(c.Detail))})
		}
	}
	return errors.Join(errs...)
}

func errorForReason(code string) error {
	for _, r := range reasons {
		if r.code == code {
			return r.err
		}
	}
	return ErrCheckFailed
}
