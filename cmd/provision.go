package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
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
created is recorded under the state directory (providers/PROVIDER.json), and every
node's machine, SSH address and pinned host key in instances.json, the record
'kisgen verify' reads.

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
				if err := providers.Destroy(ctx, prov, p, opts); err != nil {
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
			if opts.HostKeys, err = hostKeys(p, opts.StateDir, c.ErrOrStderr()); err != nil {
				return failed(err)
			}
			got, err := providers.Provision(ctx, prov, p, machines, opts)
			if len(got) > 0 {
				tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tMACHINE\tSTATE\tPRIVATE IP\tPUBLIC IP\tSSH\tCREATED")
				for _, in := range got {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", in.Host, in.ID, in.State, dash(in.PrivateIP), dash(in.PublicIP), dash(in.SSHAddr), in.Created)
				}
				tw.Flush()
			}
			if err != nil {
				return failed(err)
			}
			fmt.Fprintf(c.ErrOrStderr(), "kisgen: recorded where each node's sshd is and its host key in %s: `kisgen verify` reads it\n", instances.Path(opts.StateDir))
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

// hostKeys are the nodes' SSH host keys in the state directory's PKI (host →
// authorized_keys line): the keys the rendered user-data installs, recorded with the
// machines for verify to pin. Without a PKI there is nothing to pin, which verify reports.
func hostKeys(p *plan.Plan, state string, errOut io.Writer) (map[string]string, error) {
	b, err := pki.Load(state)
	if errors.Is(err, pki.ErrNoState) {
		fmt.Fprintf(errOut, "kisgen: %v: no host key is recorded for verify to pin\n", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys := map[string]string{}
	for _, n := range p.Nodes {
		if _, line, ok := b.SSHHostKey(n.Host); ok {
			keys[n.Host] = string(line)
		}
	}
	return keys, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
