package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
)

func newDiffCmd() *cobra.Command {
	var (
		file, state, format, output string
		exitCode                    bool
	)
	c := &cobra.Command{
		Use:   "diff",
		Short: "Say which nodes' user-data would change and why",
		Long: `Compare what 'kisgen render' would write for the plan now with the record of the
last render in the state directory, and list the nodes whose user-data would change
and why: those are the machines to replace after rendering. Nothing is written: the
PKI is issued into a temporary copy of the state directory, so certificates the
plan change would reissue are reported with their reason.

Without --format, the format of the last render is kept when it used --format.

Exit status: 0, or with --exit-code 1 when some node would change (as git diff
--exit-code); 1 on errors, 2 when the command line is wrong.`,
		Example: `  kisgen diff
  kisgen diff -f examples/ha.yaml --exit-code
  kisgen diff -o json | jq -r '.[] | select(.kind != "removed") | .host'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format != "" && format != string(plan.FormatCloudInit) && format != string(plan.FormatIgnition) {
				return usageError("unknown format %q: use cloud-init or ignition", format)
			}
			if output != "text" && output != "json" {
				return usageError("unknown output format %q: use text or json", output)
			}
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			dir := stateDir(state, file)
			old, err := render.LoadRecord(dir)
			if err != nil {
				return failed(err)
			}
			if format == "" {
				format = string(previousFormat(p, old))
			}
			changes, err := diffPlan(p, dir, old, plan.Format(format))
			if err != nil {
				return failed(err)
			}
			w := c.OutOrStdout()
			if output == "json" {
				if changes == nil {
					changes = []render.NodeChange{}
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(changes); err != nil {
					return err
				}
			} else {
				printDiff(w, changes, len(p.Nodes))
			}
			if exitCode && len(changes) > 0 {
				return silentFailure
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&format, "format", "", "user-data format to compare: cloud-init or ignition (default: as last rendered)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	c.Flags().BoolVar(&exitCode, "exit-code", false, "exit with status 1 when some node's user-data would change")
	return c
}

// previousFormat is the format the last render forced with --format, or "" when it
// followed each node group.
func previousFormat(p *plan.Plan, old *render.Record) plan.Format {
	var forced plan.Format
	differs := false
	for _, h := range old.Hosts {
		f := plan.Format(old.Nodes[h].Format)
		if forced == "" {
			forced = f
		} else if forced != f {
			return ""
		}
		if n := p.Node(h); n != nil && n.Group.Format != f {
			differs = true
		}
	}
	if differs {
		return forced
	}
	return ""
}

// diffPlan renders the plan against a temporary copy of the state directory and
// compares the result with the record of the last render.
func diffPlan(p *plan.Plan, dir string, old *render.Record, format plan.Format) ([]render.NodeChange, error) {
	tmp, err := os.MkdirTemp("", "kisgen-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	copyDir := filepath.Join(tmp, "state")
	if err := copyTree(dir, copyDir); err != nil {
		return nil, fmt.Errorf("copy the state directory: %w", err)
	}
	bundle, pkiChanges, err := pki.Ensure(p, copyDir, pki.Options{})
	if err != nil {
		return nil, err
	}
	in, err := renderInputs(p, dir)
	if err != nil {
		return nil, err
	}
	res, err := render.Render(p, bundle, render.Options{Format: format, Inputs: in})
	if err != nil && !(res != nil && errors.Is(err, render.ErrTooBig)) {
		return nil, err
	}
	reissued := map[string]string{}
	for _, ch := range pkiChanges {
		if ch.Action == pki.ActionReissued {
			reissued[ch.Name] = ch.Reason
		}
	}
	return render.Diff(old, &res.Record, render.DiffOptions{Reissued: reissued}), nil
}

func printDiff(w io.Writer, changes []render.NodeChange, total int) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "no node's user-data would change")
		return
	}
	changed := 0
	for _, ch := range changes {
		if ch.Kind != render.NodeRemoved {
			changed++
		}
	}
	fmt.Fprintf(w, "%d of %d nodes' user-data would change (render, then replace these machines):\n", changed, total)
	for _, ch := range changes {
		fmt.Fprintf(w, "  %s\n", ch)
	}
}

// copyTree copies the regular files and directories under src to dst, keeping modes.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil
	})
}
