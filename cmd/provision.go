package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/roles"
)

func newProvisionCmd() *cobra.Command {
	var (
		file, state, userdata, cache   string
		destroy, dryRun, fromTags, yes bool
		replace, prune                 bool
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

Before anything is created the plan is checked against what the provider can boot
(the formats, the settings it needs, the user-data size it takes): the same findings
'kisgen validate' prints.

Credentials come from each ecosystem's usual places (AWS config chain, GOVC_*
variables, METAL_AUTH_TOKEN), never from flags or the plan.

Day two: edit the plan, 'kisgen render', then 'kisgen provision' creates machines for
new nodes and leaves the others alone. --replace replaces, one at a time, the machines
whose user-data changed since they booted (etcd members first, then masters, then the
other nodes; each drained first, evictions respecting PodDisruptionBudgets, and waited
for until it joined); --prune drains and removes the nodes no longer in the plan. The
state directory's record of intent (intent/) keeps each machine's fingerprint and the
history; a run stopped by a failure resumes where it stopped.

--dry-run lists what would be done with each node's machine (create, keep, start,
replace, changed, remove, leave) and changes nothing. --destroy removes what kisgen created for this
plan: what carries the cluster's tags and is in kisgen's record; with --from-tags,
everything that carries the cluster's tags, for a state directory that is gone. Before
removing machines (--destroy, or --replace and --prune when they have machines to
remove) it names them and asks for confirmation on a terminal, and refuses without
one, unless --yes.`,
		Example: `  kisgen render && kisgen provision qemu
  kisgen provision aws -f prod.yaml --dry-run
  kisgen provision aws -f prod.yaml
  kisgen provision qemu --replace --prune --yes
  kisgen provision qemu --destroy --yes
  kisgen provision aws --destroy --from-tags --dry-run`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if fromTags && !destroy {
				return usageError("--from-tags is for --destroy: provision creates from the plan, not from tags")
			}
			if destroy && (replace || prune) {
				return usageError("--replace and --prune change a cluster that stays: not with --destroy")
			}
			cacheDir, err := cachedir.Dir(cache)
			if err != nil {
				return failed(err)
			}
			sd := stateDir(state, file)
			opts := providers.Options{StateDir: sd, Progress: c.ErrOrStderr(), CacheDir: cacheDir, FromTags: fromTags}
			var prov providers.Provider
			var provErr error
			check := func(p *plan.Plan) *report.Report {
				name := p.Provider.Name
				if len(args) == 1 {
					name = args[0]
				}
				if prov, provErr = providers.Get(name); provErr != nil || destroy {
					return nil // destroy removes what exists, whatever the plan now asks
				}
				return providers.Check(prov, p, opts)
			}
			p, err := loadPlanChecked(c.ErrOrStderr(), file, false, check)
			if provErr != nil {
				return usageError("%v", provErr)
			}
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			if ctx == nil {
				ctx = context.Background()
			}
			if dryRun {
				return previewRun(ctx, c, prov, p, opts, destroy, userdata, file, replace, prune)
			}
			name := prov.Name()
			if destroy {
				if !yes {
					if err := confirm(c, fmt.Sprintf("remove every machine kisgen created for cluster %s with %s", p.Name, name)); err != nil {
						return err
					}
				}
				if err := providers.Destroy(ctx, prov, p, opts); err != nil {
					return failed(err)
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: removed what kisgen created for cluster %s\n", name, p.Name)
				return nil
			}
			return applyMachines(ctx, c, prov, p, opts, userdataDir(userdata, file), file, replace, prune, yes)
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&userdata, "userdata", "", "directory 'kisgen render' wrote (default: userdata/ beside the plan)")
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage)
	c.Flags().BoolVar(&destroy, "destroy", false, "remove the machines (and what else kisgen created) instead of creating them")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be created, kept, started or removed, and change nothing")
	c.Flags().BoolVar(&replace, "replace", false, "replace, one at a time and drained first, the machines whose user-data changed since they booted")
	c.Flags().BoolVar(&prune, "prune", false, "drain and remove the machines of nodes no longer in the plan")
	c.Flags().BoolVar(&yes, "yes", false, "with --destroy, --replace or --prune: do not ask before machines are removed")
	c.Flags().BoolVar(&fromTags, "from-tags", false, "with --destroy: remove everything that carries the cluster's tags, whether kisgen's record names it or not (for a lost state directory)")
	return c
}

func userdataDir(flag, planFile string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(filepath.Dir(planFile), "userdata")
}

// previewRun prints what provision (or destroy) would do with each node's machine. For
// provision, the rendered user-data is checked against the provider's limits too.
func previewRun(ctx context.Context, c *cobra.Command, prov providers.Provider, p *plan.Plan, opts providers.Options, destroy bool, userdata, file string, replace, prune bool) error {
	var udErr error
	var machines []providers.Machine
	if !destroy {
		var err error
		machines, err = providers.LoadMachines(p, userdataDir(userdata, file))
		switch {
		case errors.Is(err, providers.ErrNoUserData):
			// Nothing to hold to the provider's limits yet; provision would stop here.
			fmt.Fprintf(c.ErrOrStderr(), "kisgen: %v\n", err)
		case err != nil:
			udErr = err
		default:
			udErr = providers.CheckUserData(prov, p, machines)
		}
	}
	changes, err := providers.Preview(ctx, prov, p, opts, destroy)
	if err != nil {
		return failed(errors.Join(err, udErr))
	}
	if !destroy {
		if changes, err = providers.PreviewRollout(changes, p, machines, opts.StateDir, replace, prune); err != nil {
			return failed(err)
		}
	}
	tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tACTION\tMACHINE\tSTATE\tNOTE")
	for _, ch := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Host, ch.Action, dash(ch.ID), dash(ch.State), ch.Note)
	}
	tw.Flush()
	what := "provision"
	if destroy {
		what = "provision --destroy"
	}
	fmt.Fprintf(c.ErrOrStderr(), "kisgen: dry run of %s with %s: nothing was created, changed or removed\n", what, prov.Name())
	if udErr != nil {
		return failed(udErr)
	}
	return nil
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

// dayTwoOptions sets what a run needs to replace and prune: the cluster's side through
// the API (only when asked: a first run has no cluster yet), the founding etcd
// membership and the plan, for the record of intent.
func dayTwoOptions(opts *providers.Options, p *plan.Plan, file string, replace, prune bool, errOut io.Writer) error {
	opts.Replace, opts.Prune = replace, prune
	opts.EtcdInitialCluster = roles.EtcdInitialCluster(p)
	text, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	opts.PlanText = text
	if replace || prune {
		steps, err := newClusterSteps(p, opts.StateDir, errOut)
		if err != nil {
			return err
		}
		opts.Cluster = steps
	}
	return nil
}

// confirmRollout asks before --replace or --prune removes machines, naming them: a
// machine's disk goes with it (a replaced node comes back from its user-data, a pruned
// one not at all). Provision asks it only when there is something to remove.
func confirmRollout(c *cobra.Command, r providers.Rollout) error {
	hosts := func(steps []providers.Step) string {
		names := make([]string, len(steps))
		for i, s := range steps {
			names[i] = s.Host
		}
		return strings.Join(names, ", ")
	}
	var what []string
	if len(r.Replace) > 0 {
		what = append(what, "drain, remove and create again the machines of "+hosts(r.Replace))
	}
	if len(r.Remove) > 0 {
		what = append(what, "drain and remove the machines of "+hosts(r.Remove)+", no longer in the plan")
	}
	return confirm(c, strings.Join(what, ", and "))
}

// confirm asks on the terminal; without one it refuses (scripts say --yes).
func confirm(c *cobra.Command, what string) error {
	in, ok := c.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return usageError("this would %s: confirm with --yes (no terminal to ask on)", what)
	}
	fmt.Fprintf(c.ErrOrStderr(), "kisgen: this will %s. Type yes to go on: ", what)
	var answer string
	_, _ = fmt.Fscanln(in, &answer)
	if strings.TrimSpace(answer) != "yes" {
		return failed(errors.New("not confirmed: nothing was removed"))
	}
	return nil
}

// applyMachines boots the plan's machines with their rendered user-data, replacing and
// pruning as asked, and prints what exists: provision's and upgrade's work.
func applyMachines(ctx context.Context, c *cobra.Command, prov providers.Provider, p *plan.Plan, opts providers.Options, userdata, file string, replace, prune, yes bool) error {
	machines, err := providers.LoadMachines(p, userdata)
	if err != nil {
		return failed(err)
	}
	if opts.HostKeys, err = hostKeys(p, opts.StateDir, c.ErrOrStderr()); err != nil {
		return failed(err)
	}
	if err := dayTwoOptions(&opts, p, file, replace, prune, c.ErrOrStderr()); err != nil {
		return failed(err)
	}
	if !yes {
		opts.Confirm = func(r providers.Rollout) error { return confirmRollout(c, r) }
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
	if ee := (*exitError)(nil); errors.As(err, &ee) {
		return err // not confirmed: confirm's own exit status
	}
	if err != nil {
		return failed(err)
	}
	fmt.Fprintf(c.ErrOrStderr(), "kisgen: recorded where each node's sshd is and its host key in %s: `kisgen verify` reads it\n", instances.Path(opts.StateDir))
	return nil
}
