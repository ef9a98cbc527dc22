package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

func newValidateCmd() *cobra.Command {
	var (
		file, cache string
		strict      bool
		output      string
	)
	c := &cobra.Command{
		Use:   "validate",
		Short: "Check a plan's structure and content and print every finding",
		Long: `Check a plan file and print every finding at once: file, YAML path, line:column,
severity and what to do about it.

The plan is also checked against what its provider (provider.name) can boot, without
credentials and without creating anything: the user-data formats it boots, the
settings it needs (an AMI for every AWS group, a template for every vSphere group), an
operating system the qemu provider has an image of, memory for the qemu VMs on this
machine, MAC addresses VMware accepts.

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
			p, rep, src, err := plan.LoadSource(file)
			if err != nil {
				return failed(err)
			}
			if p != nil && p.Provider.Name != "none" {
				if prov, err := providers.Get(p.Provider.Name); err == nil { // an unknown name is the plan's finding
					cacheDir, err := cachedir.Dir(cache)
					if err != nil {
						return failed(err)
					}
					rep.Merge(providers.Check(prov, p, providers.Options{CacheDir: cacheDir}))
					rep.Sort()
				}
			}
			valid := !rep.IsFatal(strict)
			out := c.OutOrStdout()
			if output == "json" {
				if err := writeValidateJSON(out, rep, valid, topologyOf(p, valid)); err != nil {
					return err
				}
			} else {
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
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage)
	return c
}
