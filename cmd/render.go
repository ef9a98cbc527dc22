package cmd

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/intent"
	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/roles"
)

func newRenderCmd() *cobra.Command {
	var (
		file, state, out, format string
		strict                   bool
	)
	c := &cobra.Command{
		Use:   "render",
		Short: "Write every node's user-data",
		Long: `Validate the plan (nothing is written when it is invalid), issue or reuse the
cluster PKI in the state directory, and write for every node the user-data that makes
it install itself at boot: HOST.yaml (cloud-init) or HOST.ign (Ignition, through
Butane), following the node group's operating system unless --format says otherwise,
plus manifest.json with each node's roles, format, sizes and sha256.

Every node's user-data is validated before anything is written, and the output
directory is replaced as a whole: a failed render leaves the last good output as it
was. The same plan and state always give byte-identical output.

The output directory must be new, empty or user-data kisgen wrote for this cluster
(it keeps a .kisgen-output marker); it may not be, contain or lie inside the state
directory, the plan or its SSH key. A render that was interrupted while replacing it
is completed or rolled back by the next one; two renders of one output wait for each
other. The state directory
keeps a record of what was rendered, which 'kisgen diff' compares against.

User-data holds the node's private keys: the files are 0600, and anyone who can read
an instance's user-data (cloud metadata, seed images) can read them.`,
		Example: `  kisgen render
  kisgen render -f examples/ha.yaml --out /tmp/ha-userdata
  kisgen render --format ignition`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format != "" && format != string(plan.FormatCloudInit) && format != string(plan.FormatIgnition) {
				return usageError("unknown format %q: use cloud-init or ignition", format)
			}
			p, err := loadPlan(c.ErrOrStderr(), file, strict)
			if err != nil {
				return err
			}
			dir := stateDir(state, file)
			if out == "" {
				out = filepath.Join(filepath.Dir(file), plan.DefaultUserDataDirName)
			}
			opts := render.Options{Format: plan.Format(format), Protect: protectedPaths(p, file, dir)}
			// Refuse another cluster's state directory and a colliding --out before the
			// PKI is issued (Ensure and RenderTo check again, under their locks).
			if err := pki.CheckCluster(dir, p); err != nil {
				return failed(err)
			}
			if err := outdir.Check(out, render.OutputOptions(p.Name, opts)); err != nil {
				return failed(err)
			}
			if err := tightenSSHKey(c.ErrOrStderr(), p, file); err != nil {
				return failed(err)
			}
			bundle, changes, err := pki.Ensure(p, dir, pki.Options{})
			if err != nil {
				return failed(err)
			}
			printWarnings(c.ErrOrStderr(), bundle.Warnings())
			opts.ClusterID = bundle.ClusterID()
			if opts.Inputs, err = renderInputs(p, dir); err != nil {
				return failed(err)
			}
			render.SetSoftMemoryLimit()
			res, err := render.RenderTo(p, bundle, opts, out)
			if res != nil && errors.Is(err, render.ErrTooBig) {
				printSizes(c.OutOrStdout(), res)
			}
			if err != nil {
				return failed(fmt.Errorf("nothing written to %s: %w", out, err))
			}
			printWarnings(c.ErrOrStderr(), res.Warnings)
			if err := render.SaveRecord(dir, res.Record); err != nil {
				return failed(fmt.Errorf("user-data written to %s, but the record for `kisgen diff` was not: %w", out, err))
			}
			w := c.OutOrStdout()
			printPKIChanges(w, changes, dir)
			printSizes(w, res)
			fmt.Fprintf(w, "wrote %d nodes' user-data and %s to %s\n", len(res.Nodes), render.ManifestFile, out)
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&out, "out", "", "output directory (default: userdata/ beside the plan); replaced as a whole, so it must be new, empty or kisgen's user-data of this cluster")
	c.Flags().StringVar(&format, "format", "", "user-data format for every node: cloud-init or ignition (default: each node group's)")
	c.Flags().BoolVar(&strict, "strict", false, "treat the plan's warnings as errors")
	return c
}

// printPKIChanges summarises what the PKI issued and lists every reissued certificate:
// the machines holding it need their new user-data.
func printPKIChanges(w io.Writer, changes []pki.Change, dir string) {
	printSummary(w, changes, dir)
	for _, ch := range changes {
		if ch.Action == pki.ActionReissued {
			fmt.Fprintf(w, "  %s\n", ch)
		}
	}
}

// printSizes prints each node's user-data sizes and its budget when the provider has one.
func printSizes(w io.Writer, res *render.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "HOST\tROLES\tFORMAT\tRAW\tGZIP\tBUDGET\t")
	for i, n := range res.Nodes {
		roles := make([]string, len(n.Roles))
		for j, r := range n.Roles {
			roles[j] = string(r)
		}
		budget := "-"
		if m := res.Manifest.Nodes[i]; m.Budget != nil {
			budget = fmt.Sprintf("%d %s", m.Budget.Bytes, m.Budget.Measure)
			if m.OverBudget {
				budget += " OVER"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t\n", n.Host, strings.Join(roles, ","), n.Format, n.Sizes.Raw, n.Sizes.Gzip, budget)
	}
	_ = tw.Flush()
}

// renderInputs are the files the plan names, and from the record of intent what the
// running cluster fixed for good: its founding etcd membership.
func renderInputs(p *plan.Plan, state string) (*roles.Inputs, error) {
	in, err := roles.LoadInputs(p)
	if err != nil {
		return nil, err
	}
	rec, err := intent.Load(state)
	switch {
	case errors.Is(err, intent.ErrNoRecord):
	case err != nil:
		return nil, err
	default:
		in.EtcdInitialCluster = rec.EtcdInitialCluster
	}
	return &in, nil
}
