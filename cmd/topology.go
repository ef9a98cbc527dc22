package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/internal/topology"
	"github.com/kisgen/kisgen/plan"
)

// topologyOf is the topology of a valid plan, nil for an invalid one (its findings say
// what to fix; a table of a broken plan would mislead).
func topologyOf(p *plan.Plan, valid bool) *topology.Table {
	if !valid || p == nil {
		return nil
	}
	return topology.Of(p)
}

// writeValidateJSON writes what report.WriteJSON writes (valid, errors, warnings, findings)
// with the topology of a valid plan added, so a script reads the findings and the nodes
// from one document.
func writeValidateJSON(w io.Writer, rep *report.Report, valid bool, topo *topology.Table) error {
	doc := struct {
		Valid    bool             `json:"valid"`
		Errors   int              `json:"errors"`
		Warnings int              `json:"warnings"`
		Findings []report.Finding `json:"findings"`
		Topology *topology.Table  `json:"topology,omitempty"`
	}{valid, rep.Count(report.Error), rep.Count(report.Warning), rep.Findings, topo}
	if doc.Findings == nil {
		doc.Findings = []report.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// printTopology prints the table of the plan just written by `kisgen plan`, as `kisgen
// validate` does; a plan with errors gets none (its findings were printed instead).
func printTopology(out io.Writer, file string, data []byte) {
	p, rep := plan.Parse(file, data, plan.Options{})
	if t := topologyOf(p, rep != nil && !rep.IsFatal(false)); t != nil {
		fmt.Fprintln(out)
		_ = t.Write(out)
		fmt.Fprintln(out)
	}
}
