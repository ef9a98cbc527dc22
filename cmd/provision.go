package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/providers"
)

func newProvisionCmd() *cobra.Command {
	var (
		file, state, userdata, cache string
		destroy                      bool
	)
	c := &cobra.Command{
		Use:   "provision [PROVIDER]",
		Short: "Boot the plan's machines with their rendered user-data",
		Long: `Boot one machine per node with the user-data that 'kisgen render' wrote, using the
named provider (default: the plan's provider.name, itself defaulting to qemu).
Provisioning is idempotent: machines are found again by cluster name and host, so a
second run creates nothing and a run after a failure finishes the job. What was
created is recorded under the state directory (providers/PROVIDER.json).

Credentials come from each ecosystem's usual places (AWS config chain, GOVC_*
variables, METAL_AUTH_TOKEN), never from flags or the plan.

--destroy removes what kisgen created for this plan.`,
		Example: `  kisgen render && kisgen provision qemu
  kisgen provision aws -f prod.yaml
  kisgen provision qemu --destroy`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			name := p.Provider.Name
			if len(args) == 1 {
				name = args[0]
			}
			prov, err := providers.Get(name)
			if err != nil {
				return usageError("%v", err)
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			if ctx == nil {
				ctx = context.Background()
			}
			cacheDir, err := cachedir.Dir(cache)
			if err != nil {
				return failed(err)
			}
			opts := providers.Options{StateDir: stateDir(state, file), Progress: c.ErrOrStderr(), CacheDir: cacheDir}
			if destroy {
				if err := prov.Destroy(ctx, p, opts); err != nil {
					return failed(err)
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: removed what kisgen created for cluster %s\n", name, p.Name)
				return nil
			}
			dir := userdata
			if dir == "" {
				dir = filepath.Join(filepath.Dir(file), "userdata")
			}
			machines, err := providers.LoadMachines(p, dir)
			if err != nil {
				return failed(err)
			}
			instances, err := prov.Provision(ctx, p, machines, opts)
			if len(instances) > 0 {
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tMACHINE\tSTATE\tPRIVATE IP\tPUBLIC IP\tSSH\tCREATED")
				for _, in := range instances {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", in.Host, in.ID, in.State, dash(in.PrivateIP), dash(in.PublicIP), dash(in.SSHAddr), in.Created)
				}
				tw.Flush()
			}
			if err != nil {
				return failed(err)
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&userdata, "userdata", "", "directory 'kisgen render' wrote (default: userdata/ beside the plan)")
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage)
	c.Flags().BoolVar(&destroy, "destroy", false, "remove the machines (and what else kisgen created) instead of creating them")
	return c
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
