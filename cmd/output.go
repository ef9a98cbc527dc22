package cmd

import (
	"path/filepath"

	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/plan"
)

// protectedPaths is what an output directory (render --out, bundle pxe --out) must
// never be, contain or lie inside: replacing it would delete the state directory with
// the CA keys, the plan, or the plan's SSH key.
func protectedPaths(p *plan.Plan, planFile, state string) []outdir.Protected {
	out := []outdir.Protected{
		{Path: state, What: "the state directory (the cluster's CA keys and certificates)"},
		{Path: planFile, What: "the plan"},
	}
	if p.SSH.KeyFile != "" {
		key := sshKeyPath(p, planFile)
		out = append(out, outdir.Protected{Path: key, What: "the plan's SSH key"}, outdir.Protected{Path: key + ".pub", What: "the plan's SSH public key"})
	}
	return out
}

// sshKeyPath is the plan's SSH private key as the plan resolves it: relative to the
// plan's directory unless absolute.
func sshKeyPath(p *plan.Plan, planFile string) string {
	if filepath.IsAbs(p.SSH.KeyFile) {
		return p.SSH.KeyFile
	}
	return filepath.Join(filepath.Dir(planFile), p.SSH.KeyFile)
}
