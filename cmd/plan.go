package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/plan/wizard"
	"github.com/kisgen/kisgen/roles"
)

func newPlanCmd() *cobra.Command {
	var (
		file           string
		force          bool
		nonInteractive bool
		fromKismatic   string
		nodes, macs    []string
	)
	c := &cobra.Command{
		Use:   "plan",
		Short: "Ask the planning questions and write kismatic-cluster.yaml",
		Long: `Ask the questions of the Kismatic installer guide — compute, network, certificates,
access and infrastructure — and write a commented kismatic-cluster.yaml.

Press Enter to take the suggestion in brackets (the guide's defaults: pod network
172.16.0.0/16, services 172.17.0.0/16, AS number 64511, certificates for 17520h,
country US, user kismaticuser, key kismaticuser.key). A wrong answer is explained
and asked again. Every question also has a flag; --non-interactive takes the
default of every question not given as a flag, for scripts.

The plan is checked like 'kisgen validate' before it is written; an existing plan
is never replaced without --force. The SSH key pair the plan names (ed25519, the
private key mode 0600, the public one KEY.pub) is created when it does not exist.

--from-kismatic converts a Kismatic v1.12 plan into the kisgen schema instead.`,
		Example: `  kisgen plan
  kisgen plan --non-interactive --etcd 1 --masters 1 --workers 2 --base-ip 10.10.0.10
  kisgen plan --non-interactive --node etcd:etcd1=10.0.0.11 --node master:master1=10.0.0.21 \
      --node worker:worker1=10.0.0.31 -f lab.yaml
  kisgen plan --from-kismatic old/kismatic-cluster.yaml -f kismatic-cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := wizard.CheckNotExists(file, force); err != nil {
				return failed(err)
			}
			if st, err := os.Stat(filepath.Dir(file)); err != nil || !st.IsDir() {
				return failed(fmt.Errorf("the directory of %s does not exist: create it first", file))
			}
			if fromKismatic != "" {
				return convertKismatic(c, fromKismatic, file, force)
			}
			given := map[string]string{}
			for _, q := range wizard.Questions() {
				if f := c.Flags().Lookup(q.Flag); f != nil && f.Changed {
					given[q.Flag] = f.Value.String()
				}
			}
			in, out := c.InOrStdin(), c.OutOrStdout()
			answers, err := wizard.Interview(in, out, wizard.Options{
				Given: given, Nodes: nodes, MACs: macs, NonInteractive: nonInteractive,
				Echo: !isTerminal(in), PlanDir: filepath.Dir(file),
			})
			switch {
			case errors.Is(err, wizard.ErrBadFlag):
				return usageError("%v", err)
			case errors.Is(err, wizard.ErrInputEnded):
				return failed(fmt.Errorf("%w: nothing was written (use --non-interactive to take the defaults)", err))
			case err != nil:
				return failed(err)
			}
			return writePlan(c, file, answers, force)
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "kismatic-cluster.yaml", "plan file to write")
	c.Flags().BoolVar(&force, "force", false, "replace the plan file if it exists")
	c.Flags().BoolVarP(&nonInteractive, "non-interactive", "y", false, "take the default of every question not given as a flag")
	c.Flags().StringVar(&fromKismatic, "from-kismatic", "", "convert this Kismatic v1.12 plan instead of asking")
	c.Flags().StringArrayVar(&nodes, "node", nil, "a node, ROLE:HOST=IP[/INTERNAL_IP] (repeat for each; replaces generated nodes)")
	c.Flags().StringArrayVar(&macs, "mac", nil, "a node's boot MAC address for PXE, HOST=MAC (repeat for each)")
	for _, q := range wizard.Questions() {
		switch q.Kind {
		case wizard.IntFlag:
			c.Flags().Int(q.Flag, 0, q.Usage)
		case wizard.BoolFlag:
			c.Flags().Bool(q.Flag, false, q.Usage)
		default:
			c.Flags().String(q.Flag, "", q.Usage)
		}
	}
	return c
}

// writePlan creates the SSH key when missing, then checks and writes the plan.
func writePlan(c *cobra.Command, file string, a *wizard.Answers, force bool) error {
	out := c.OutOrStdout()
	if a.ClusterImageArchives || a.ConformanceImageArchives {
		archives, err := clusterImageArchives(file, a)
		if err != nil {
			return failed(err)
		}
		a.ImageArchives = archives
	}
	p, opts := a.Plan()
	opts.Header = a.Header()
	data, err := wizard.Encode(p, opts)
	if err != nil {
		return failed(err)
	}
	key := a.SSHKey
	if !filepath.IsAbs(key) {
		key = filepath.Join(filepath.Dir(file), key)
	}
	kr, err := wizard.EnsureKey(key, a.SSHUser+"@"+a.ClusterName)
	if err != nil {
		return failed(err)
	}
	rep, err := wizard.Write(file, data, wizard.WriteOptions{Force: force})
	if rep != nil && len(rep.Findings) > 0 {
		fmt.Fprintln(out)
		_ = rep.WriteText(out, data)
	}
	if err != nil {
		return failed(err)
	}
	fmt.Fprintf(out, "\nWrote %s: %s.\n", file, a.Summary())
	printTopology(out, file, data)
	switch {
	case kr.Created:
		fmt.Fprintf(out, "Created the SSH key pair %s (private, mode 0600: keep it safe, it opens every node) and %s.pub (put on every node).\n", key, key)
	case kr.PublicCreated:
		fmt.Fprintf(out, "Wrote %s.pub from the existing key %s.\n", key, key)
	}
	if kr.Loose {
		fmt.Fprintf(out, "Note: %s is readable by other users; OpenSSH refuses such keys: chmod 600 %s\n", key, key)
	}
	fmt.Fprintf(out, "Next: kisgen validate -f %s, then kisgen render -f %s.\n", file, file)
	return nil
}

// clusterImageArchives answers `--image-archives cluster,conformance`: the mirror path of
// every image the answers' cluster runs (roles.ClusterImages: pause, CoreDNS when DNS is
// on, Calico's three) for "cluster", of every e2e image kisgen builds for its Kubernetes
// version (roles.ConformanceImages) for "conformance", where `kisgen mirror build` writes
// them, then the archives named in the answer, each once.
func clusterImageArchives(file string, a *wizard.Answers) ([]string, error) {
	named := a.ImageArchives
	b := *a
	b.ImageArchives = nil
	p, opts := b.Plan()
	data, err := wizard.Encode(p, opts)
	if err != nil {
		return nil, err
	}
	model, rep := plan.Parse(file, data, plan.Options{})
	if model == nil {
		return nil, fmt.Errorf("the answers make no plan: %v", rep)
	}
	var archives []string
	if a.ClusterImageArchives {
		for _, img := range roles.ClusterImages(model) {
			archives = append(archives, img.Archive)
		}
	}
	if a.ConformanceImageArchives {
		imgs := roles.ConformanceImages(model)
		if len(imgs) == 0 {
			return nil, fmt.Errorf("--image-archives conformance: kisgen knows the e2e images of Kubernetes %s only, not of %s",
				strings.Join(roles.ConformanceVersions(), ", "), model.Versions.Kubernetes)
		}
		for _, img := range imgs {
			archives = append(archives, img.Archive)
		}
	}
	for _, n := range named {
		if !slices.Contains(archives, n) {
			archives = append(archives, n)
		}
	}
	return archives, nil
}

// convertKismatic writes a Kismatic v1.12 plan in the kisgen schema and prints each change
// the conversion made. The converted plan is written even when its content has errors (an
// expected_count that does not match, say): they are printed, and fixing them in the new
// file is the next step.
func convertKismatic(c *cobra.Command, src, dst string, force bool) error {
	out := c.OutOrStdout()
	data, err := plan.ReadSource(src) // capped, as every plan is read
	if err != nil {
		return failed(fmt.Errorf("read Kismatic plan: %w", err))
	}
	conv, err := wizard.FromKismatic(src, data, dst)
	if len(conv.Report.Findings) > 0 {
		_ = conv.Report.WriteText(out, data)
	}
	if err != nil {
		return failed(err)
	}
	_ = wizard.WriteChanges(out, src, conv.Changes)
	converted := conv.Plan
	wrep, err := wizard.Write(dst, converted, wizard.WriteOptions{Force: force, KeepInvalid: true})
	if err != nil {
		return failed(err)
	}
	fmt.Fprintf(out, "Wrote %s from the Kismatic plan %s.\n", dst, src)
	printTopology(out, dst, converted)
	if len(wrep.Findings) > 0 {
		fmt.Fprintf(out, "\nkisgen validate -f %s finds:\n", dst)
		_ = wrep.WriteText(out, converted)
	}
	if wrep.IsFatal(false) {
		return failed(fmt.Errorf("%s has errors to fix (%s); then run kisgen validate -f %s", dst, wrep.Summary(), dst))
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
