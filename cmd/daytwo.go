package cmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/intent"
	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/kubeapi"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/render"
)

func newKubeconfigCmd() *cobra.Command {
	var file, state, out string
	var force bool
	c := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print or write the cluster's admin kubeconfig",
		Long: `Print the cluster administrator's kubeconfig (the state directory's PKI), or write it
to --out (0600, atomically; an existing different file only with --force). Its server
is an address that reaches the API from this machine: for local VMs the loopback port
forward of a master (the instances record's apiAddress), else the plan's API address.`,
		Example: `  kisgen kubeconfig > admin.conf && kubectl --kubeconfig admin.conf get nodes
  kisgen kubeconfig -f examples/ha.yaml --out ~/.kube/ha.conf`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			dir := stateDir(state, file)
			data, server, err := adminKubeconfig(p, dir)
			if err != nil {
				return failed(err)
			}
			if out == "" {
				_, err := c.OutOrStdout().Write(data)
				return err
			}
			if old, err := os.ReadFile(out); err == nil && !bytes.Equal(old, data) && !force {
				return failed(fmt.Errorf("%s exists and differs: remove it, or --force", out))
			}
			if err := atomicfile.WriteFile(out, data, 0o600); err != nil {
				return failed(err)
			}
			fmt.Fprintf(c.ErrOrStderr(), "kisgen: wrote the admin kubeconfig for %s to %s\n", server, out)
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&out, "out", "", "write it to this file instead of printing it")
	c.Flags().BoolVar(&force, "force", false, "with --out: replace a different file")
	return c
}

// adminKubeconfig is the admin kubeconfig pointed at an address that reaches the API
// from here.
func adminKubeconfig(p *plan.Plan, dir string) ([]byte, string, error) {
	b, err := pki.Load(dir)
	if err != nil {
		return nil, "", err
	}
	data, ok := b.Kubeconfig(pki.Admin)
	if !ok {
		return nil, "", fmt.Errorf("%w: no admin kubeconfig in %s: run `kisgen render`", pki.ErrNoState, dir)
	}
	k, err := pki.ParseKubeconfig(data)
	if err != nil {
		return nil, "", err
	}
	server := p.APIServerURL()
	if rec, err := instances.Load(dir); err == nil && rec.Cluster == p.Name {
		for _, in := range rec.Instances {
			if in.APIAddress != "" {
				server = "https://" + in.APIAddress
				break
			}
		}
	}
	for i := range k.Clusters {
		k.Clusters[i].Cluster.Server = server
	}
	out, err := k.Marshal()
	return out, server, err
}

func newStatusCmd() *cobra.Command {
	var file, state string
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "status",
		Short: "Show each node's planned state against what runs",
		Long: `Show, per node, the planned state (roles, the Kubernetes version, the fingerprint of its
rendered user-data) against what was applied (the fingerprint of the user-data its
machine booted with, from the record of intent) and what runs (the kubelet's version and
Ready, from the API server). STATE is in-sync; changed (render changed it since:
'kisgen provision --replace'); new (no machine yet: 'kisgen provision'); removed (no
longer in the plan: 'kisgen provision --prune'). The last changes of the history follow.

Exit status 0 even when nodes differ; 1 when the records cannot be read.`,
		Example: `  kisgen status
  kisgen status -f examples/ha.yaml --timeout 5s`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, dir, rendered, err := loadRendered(c, file, state)
			if err != nil {
				return err
			}
			rec, err := intent.LoadOrNew(dir, p.Name)
			if err != nil {
				return failed(err)
			}
			running := map[string]kubeapi.Node{}
			apiNote := ""
			if kc, _, err := adminKubeconfig(p, dir); err != nil {
				apiNote = err.Error()
			} else if cl, err := kubeClient(p, dir, kc, ""); err != nil {
				apiNote = err.Error()
			} else {
				ctx, cancel := context.WithTimeout(c.Context(), timeout)
				nodes, err := cl.Nodes(ctx)
				cancel()
				if err != nil {
					apiNote = fmt.Sprintf("%s: %v", cl.Server(), err)
				}
				for _, n := range nodes {
					running[n.Name] = n
				}
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tROLES\tSTATE\tPLANNED\tAPPLIED\tVERSION\tRUNNING\tREADY")
			short := func(s string) string {
				if len(s) > 12 {
					return s[:12]
				}
				return dash(s)
			}
			seen := map[string]bool{}
			for _, h := range rendered.Hosts {
				seen[h] = true
				nr := rendered.Nodes[h]
				applied, has := rec.Nodes[h]
				st := "in-sync"
				switch {
				case p.Node(h) == nil:
					st = "removed"
				case !has:
					st = "new"
				case applied.Fingerprint != nr.SHA256:
					st = "changed"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h, dash(strings.Join(nr.Roles, ",")), st, short(nr.SHA256), short(applied.Fingerprint),
					p.Versions.Kubernetes, dash(running[h].KubeletVersion), ready(running, h))
			}
			for _, h := range rec.Hosts() {
				if !seen[h] {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h, dash(strings.Join(rec.Nodes[h].Roles, ",")), "removed", "-", short(rec.Nodes[h].Fingerprint),
						"-", dash(running[h].KubeletVersion), ready(running, h))
				}
			}
			tw.Flush()
			if apiNote != "" {
				fmt.Fprintf(c.ErrOrStderr(), "kisgen: what runs is unknown: %s\n", apiNote)
			}
			history, err := intent.History(dir)
			if err != nil {
				return failed(err)
			}
			if n := len(history); n > 0 {
				fmt.Fprintln(c.OutOrStdout(), "\nlast changes:")
				for _, ev := range history[max(0, n-5):] {
					fmt.Fprintf(c.OutOrStdout(), "  %s %s %s %s %s\n", ev.Time.Format(time.RFC3339), ev.Action, ev.Host, ev.Outcome, ev.Detail)
				}
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the API server")
	return c
}

func ready(running map[string]kubeapi.Node, h string) string {
	n, ok := running[h]
	switch {
	case !ok:
		return "-"
	case n.Ready:
		return "True"
	}
	return "False"
}

func newUpgradeCmd() *cobra.Command {
	var file, state, userdata, cache string
	c := &cobra.Command{
		Use:   "upgrade [PROVIDER]",
		Short: "Replace the nodes, in order, after the plan's versions changed",
		Long: `After the plan's versions changed (cluster.version, etcd…) and 'kisgen render', replace
every node whose user-data changed, one at a time: etcd members first (each new member
joins before the next one goes, so the quorum stays), then masters, then the other
nodes. Each Kubernetes node is drained first (evictions through the API, which respect
PodDisruptionBudgets), and each new machine is waited for (Ready, the API server ready)
before the next. The first step that fails stops the upgrade and says why; run the
command again to resume with the nodes left (the record of intent knows which).`,
		Example: `  kisgen render && kisgen upgrade
  kisgen upgrade -f examples/ha.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, dir, rendered, err := loadRendered(c, file, state)
			if err != nil {
				return err
			}
			if v := rendered.Versions["kubernetes"]; v != p.Versions.Kubernetes || rendered.Versions["etcd"] != p.Versions.Etcd {
				return failed(fmt.Errorf("the user-data was rendered for Kubernetes %s, etcd %s; the plan asks %s, %s: run `kisgen render` first",
					v, rendered.Versions["etcd"], p.Versions.Kubernetes, p.Versions.Etcd))
			}
			rec, err := intent.Load(dir)
			if err != nil {
				return failed(err)
			}
			from := map[string]bool{}
			for _, n := range rec.Nodes {
				from[n.Versions["kubernetes"]+"/"+n.Versions["etcd"]] = true
			}
			name := p.Provider.Name
			if len(args) == 1 {
				name = args[0]
			}
			prov, err := providers.Get(name)
			if err != nil {
				return usageError("%v", err)
			}
			cacheDir, err := cachedir.Dir(cache)
			if err != nil {
				return failed(err)
			}
			var vs []string
			for v := range from {
				vs = append(vs, v)
			}
			sort.Strings(vs)
			fmt.Fprintf(c.ErrOrStderr(), "kisgen: upgrade of %s: running %v (Kubernetes/etcd), planned %s/%s\n", p.Name, vs, p.Versions.Kubernetes, p.Versions.Etcd)
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			opts := providers.Options{StateDir: dir, Progress: c.ErrOrStderr(), CacheDir: cacheDir}
			if err := intent.Append(dir, intent.Event{Time: time.Now().UTC(), Action: "upgrade", To: p.Versions.Kubernetes + "/" + p.Versions.Etcd, Outcome: "started"}); err != nil {
				return failed(err)
			}
			err = applyMachines(ctx, c, prov, p, opts, userdataDir(userdata, file), file, true, false, true)
			outcome := "ok"
			if err != nil {
				outcome = "failed"
			}
			if aerr := intent.Append(dir, intent.Event{Time: time.Now().UTC(), Action: "upgrade", To: p.Versions.Kubernetes + "/" + p.Versions.Etcd, Outcome: outcome}); aerr != nil {
				err = errors.Join(err, aerr)
			}
			return err
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&userdata, "userdata", "", "directory 'kisgen render' wrote (default: userdata/ beside the plan)")
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage)
	return c
}

// loadRendered loads the plan, its state directory and the record of the last render.
func loadRendered(c *cobra.Command, file, state string) (*plan.Plan, string, *render.Record, error) {
	p, err := loadPlan(c.ErrOrStderr(), file, false)
	if err != nil {
		return nil, "", nil, err
	}
	dir := stateDir(state, file)
	rendered, err := render.LoadRecord(dir)
	if err != nil {
		return nil, "", nil, failed(err)
	}
	return p, dir, rendered, nil
}
