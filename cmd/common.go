package cmd

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// addPlanFlag adds the -f/--file flag every plan-reading command shares.
func addPlanFlag(c *cobra.Command, file *string) {
	c.Flags().StringVarP(file, "file", "f", plan.DefaultPlanFileName, "path of the plan file")
}

// addStateFlag adds --state, the directory holding the PKI and the record of what was rendered.
func addStateFlag(c *cobra.Command, state *string) {
	c.Flags().StringVar(state, "state", "", "state directory for certificates, keys and render records (default: generated/ beside the plan)")
}

// stateDir resolves the state directory: the flag when given, else generated/ beside the plan.
func stateDir(flag, planFile string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(filepath.Dir(planFile), plan.DefaultStateDirName)
}

// loadPlan loads and validates a plan. Findings are printed to errOut (warnings too); a
// fatal report returns an error that exits 1 after the findings.
func loadPlan(errOut io.Writer, file string, strict bool) (*plan.Plan, error) {
	return loadPlanChecked(errOut, file, strict, nil)
}

// loadPlanChecked is loadPlan with more checks on a plan that could be read: what check
// reports (a provider's, see providers.Check) joins the plan's own findings, in one report.
func loadPlanChecked(errOut io.Writer, file string, strict bool, check func(*plan.Plan) *report.Report) (*plan.Plan, error) {
	p, rep, src, err := plan.LoadSource(file)
	if err != nil {
		return nil, failed(err)
	}
	if p != nil && check != nil {
		rep.Merge(check(p))
		rep.Sort()
	}
	if len(rep.Findings) > 0 {
		_ = rep.WriteText(errOut, src)
	}
	if rep.IsFatal(strict) {
		return nil, failed(fmt.Errorf("%w: %s: %s", plan.ErrInvalid, file, rep.Summary()))
	}
	return p, nil
}

// fatalReport turns a report into the error a command returns.
func fatalReport(r *report.Report) error { return failed(&report.FatalError{Report: r}) }
