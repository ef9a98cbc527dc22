package verify

import (
	"context"
	"fmt"
	"time"
)

// WaitOptions tune Wait.
type WaitOptions struct {
	// Timeout is how long to keep trying (--wait).
	Timeout time.Duration
	// Interval is the pause between rounds; 0 means 10s.
	Interval time.Duration
	// OnRound, when set, is called after each round with its report.
	OnRound func(*Report)
}

// Wait checks every node in rounds until all pass or Timeout runs out, and returns the
// last round's report. A node whose round was cut short by the timeout keeps its result
// from the round before, which says more than "timed out".
func Wait(ctx context.Context, targets []Target, opts Options, w WaitOptions) *Report {
	o := opts.withDefaults()
	if w.Interval <= 0 {
		w.Interval = 10 * time.Second
	}
	start := time.Now()
	ctx, cancel := context.WithTimeoutCause(ctx, w.Timeout, fmt.Errorf("the wait time (%s) ran out", w.Timeout))
	defer cancel()
	var last *Report
	for round := 1; ; round++ {
		rep := runRound(ctx, targets, &o, round)
		if last != nil {
			for i := range rep.Nodes {
				if rep.Nodes[i].interrupted {
					rep.Nodes[i] = last.Nodes[i]
				}
			}
		}
		rep.Cluster = clusterChecks(targets, rep.Nodes)
		rep.OK = rep.ok()
		rep.Started, rep.Elapsed = start, time.Since(start)
		last = rep
		if w.OnRound != nil {
			w.OnRound(rep)
		}
		if rep.OK || ctx.Err() != nil {
			return rep
		}
		t := time.NewTimer(w.Interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return rep
		}
	}
}
