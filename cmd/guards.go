package cmd

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/keyperm"
	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/pki"
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

// tightenSSHKey makes the plan's SSH private key 0600 when its group or others can read
// it, with a warning (the policy of internal/keyperm: tighten and warn; refuse only a
// key kisgen cannot chmod).
func tightenSSHKey(errOut io.Writer, p *plan.Plan, planFile string) error {
	if p.SSH.KeyFile == "" {
		return nil
	}
	key := sshKeyPath(p, planFile)
	w, err := keyperm.Tighten(key, "the plan's SSH key, which logs in to every node",
		fmt.Sprintf("make a new one (ssh-keygen -t ed25519 -N '' -f %s after moving the old one away), render again and reinstall the nodes", key))
	if w != "" {
		printWarnings(errOut, []string{w})
	}
	return err
}

func printWarnings(errOut io.Writer, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(errOut, "warning:", w)
	}
}

// loadPKI reads the state directory of the plan in planFile for a command that only
// reads it (certs list, certs check). The plan must load, and the state directory must
// belong to its cluster: a mistyped -f used to list whatever generated/ happened to be
// beside it. Only --state without -f reads a state directory without a plan: it names
// the directory itself, so nothing is guessed.
func loadPKI(c *cobra.Command, planFile, state string) (*pki.Bundle, error) {
	dir := stateDir(state, planFile)
	if state == "" || c.Flags().Changed("file") {
		p, err := loadPlan(c.ErrOrStderr(), planFile, false)
		if err != nil {
			return nil, err
		}
		if err := pki.CheckCluster(dir, p); err != nil {
			return nil, failed(err)
		}
	}
	b, err := pki.Load(dir)
	if err != nil {
		return nil, failed(err)
	}
	printWarnings(c.ErrOrStderr(), b.Warnings())
	return b, nil
}
