package cmd

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/plan"
)

func newValidateCmd() *cobra.Command {
	var (
		file   string
		strict bool
		output string
	)
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a plan's structure and content and print every finding",
		Long: `Check a plan file and print every finding at once: file, YAML path, line:column,
severity and what to do about it.

Exit status: 0 when the plan is valid, 1 when it has errors (or warnings with
--strict), 2 when the command line is wrong.`,
		Example: `  kisgen validate
  kisgen validate -f examples/ha.yaml --strict
  kisgen validate -o json | jq '.findings[] | select(.severity=="error")'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("unknown output format %q: use text or json", output)
			}
			p, rep, err := plan.Load(file)
			if err != nil {
				return failed(err)
			}
			valid := !rep.IsFatal(strict)
			out := c.OutOrStdout()
			if output == "json" {
				if err := writeValidateJSON(out, rep, valid, topologyOf(p, valid)); err != nil {
					return err
				}
			} else {
				src, _ := os.ReadFile(file)
				if err := rep.WriteText(out, src); err != nil {
					return err
				}
				switch {
				case !valid:
					fmt.Fprintf(out, "%s: invalid (%s)\n", file, rep.Summary())
				case len(rep.Findings) > 0:
					fmt.Fprintf(out, "%s: valid (%s): %d nodes\n", file, rep.Summary(), len(p.Nodes))
				default:
					fmt.Fprintf(out, "%s: valid: %d nodes (%d etcd, %d master, %d worker)\n", file, len(p.Nodes),
						len(p.NodesWith(plan.RoleEtcd)), len(p.NodesWith(plan.RoleMaster)), len(p.NodesWith(plan.RoleWorker)))
				}
				if t := topologyOf(p, valid); t != nil {
					fmt.Fprintln(out)
					if err := t.Write(out); err != nil {
						return err
					}
				}
			}
			if !valid {
				return silentFailure
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	c.Flags().BoolVar(&strict, "strict", false, "treat warnings as errors")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
