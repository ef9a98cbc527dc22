package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/conformance"
	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/roles"
	"github.com/kisgen/kisgen/verify"
)

func newConformanceCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "conformance",
		Short: "Run Kubernetes' own end-to-end suite against the cluster",
		Long: `Run the upstream end-to-end suite (e2e.test of the plan's Kubernetes version, what
Sonobuoy and the CNCF conformance program run) against a cluster kisgen booted, offline:
the suite and the images its specs run are built by 'kisgen mirror build --conformance'.
See docs/conformance.md.`,
	}
	c.AddCommand(newConformanceRunCmd(), newConformanceResultsCmd())
	return c
}

// conformanceRunFlags are `conformance run`'s flags.
type conformanceRunFlags struct {
	file, state, cache, provider string
	mode, focus, skip, e2eTest   string
	mirrorDir                    string
	timeout, dialTimeout         time.Duration
	dryRun, verbose, insecure    bool
	importImages, noImageCheck   bool
}

func newConformanceRunCmd() *cobra.Command {
	var fl conformanceRunFlags
	c := &cobra.Command{
		Use:   "run",
		Short: "Run the e2e suite on a master and keep the results in the state directory",
		Long: `Run the e2e suite of the plan's Kubernetes version against the cluster, from the
first master that answers over SSH: e2e.test is copied there (113 MiB as kisgen builds
it, stripped; not again while it is the same) and runs with the admin
kubeconfig and kubectl kisgen installed. A master reaches the API server, every node and
every NodePort on any provider; local qemu VMs' API is not reachable from this machine.

Modes (--mode):
  network    (default) every [sig-network] [Conformance] spec — pod to pod across nodes,
             Services, DNS for pods and Services, EndpointSlices — and 13 more that
             exercise what kisgen installs: DNS search paths and hostNetwork pods,
             Services from pods and nodes over TCP and UDP, NetworkPolicy (60 specs for
             Kubernetes v1.37.2)
  quick      5 specs: DNS for the cluster and for Services, pods reaching pods on every
             node, a ClusterIP and a NodePort Service
  certified  every [Conformance] spec (457 of 462 for v1.37.2: 5 need images kisgen does
             not build or a registry; the summary names them and why)
--focus REGEX replaces the mode's choice of specs (as Sonobuoy's e2e focus does), --skip
REGEX leaves out more; both are ginkgo's, matched against the specs' names (--dry-run
lists them).

Progress is printed as the suite goes: each spec as it ends with its state, each failure
with its message. The suite's output (e2e.log), its JUnit report (junit_01.xml) and a
summary (summary.json, printed by 'kisgen conformance results') go to STATE/conformance/.
Interrupting stops the suite on the master, which cleans up and writes its report.

The specs' images must be on every node (the plan lists images/e2e-*.tar in
mirror.image_archives: 'kisgen plan --image-archives cluster,conformance'); the run
checks first, and --import-images copies the missing ones from the mirror directory
into a running cluster's containerd.

Exit status: 0 when every selected spec passed, 1 when one failed or the run could not
be made, 2 when the command line is wrong.`,
		Example: `  kisgen conformance run
  kisgen conformance run --mode quick
  kisgen conformance run --mode certified --timeout 30h
  kisgen conformance run --focus '\[sig-network\] DNS' --skip HostNetwork
  kisgen conformance run --dry-run --mode network`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runConformance(c, fl) },
	}
	addPlanFlag(c, &fl.file)
	addStateFlag(c, &fl.state)
	f := c.Flags()
	f.StringVar(&fl.mode, "mode", string(conformance.ModeNetwork), "which specs: network, quick or certified")
	f.StringVar(&fl.focus, "focus", "", "run the specs whose names match this regular expression instead of the mode's")
	f.StringVar(&fl.skip, "skip", "", "leave out the specs whose names match this regular expression")
	f.DurationVar(&fl.timeout, "timeout", 0, "stop the suite after this long (default: 1h quick, 6h network, 24h certified)")
	f.StringVar(&fl.e2eTest, "e2e-test", "", "the e2e.test binary to run (default: kisgen's build for the plan's version in the cache, built if missing)")
	f.StringVar(&fl.cache, "cache", "", cachedir.FlagUsage)
	f.StringVar(&fl.provider, "provider", "", "provider that booted the machines, whose instances record to read (default: the plan's provider.name; none: the plan's addresses)")
	f.BoolVar(&fl.dryRun, "dry-run", false, "list the specs the run would run and those kisgen leaves out, and stop (no cluster needed)")
	f.BoolVar(&fl.verbose, "verbose", false, "also print the suite's own output as it comes (it is in STATE/conformance/e2e.log anyway)")
	f.BoolVar(&fl.importImages, "import-images", false, "copy the e2e images a node lacks from the mirror directory into its containerd")
	f.StringVar(&fl.mirrorDir, "mirror-dir", "", "the mirror directory --import-images reads (default: the folder of the plan's mirror.checksums)")
	f.BoolVar(&fl.noImageCheck, "no-image-check", false, "do not check that every node has the specs' images (for a cluster that pulls from a registry of its own)")
	f.DurationVar(&fl.dialTimeout, "dial-timeout", 10*time.Second, "time allowed to connect and to log in to each node")
	f.BoolVar(&fl.insecure, "insecure-ignore-host-key", false, "accept any host key: a machine posing as a node could fake its results")
	return c
}

func runConformance(c *cobra.Command, fl conformanceRunFlags) error {
	errOut, out := c.ErrOrStderr(), c.OutOrStdout()
	mode, err := conformance.ParseMode(fl.mode)
	if err != nil {
		return usageError("--mode: %v", err)
	}
	if fl.timeout < 0 {
		return usageError("--timeout must not be negative")
	}
	if fl.mirrorDir != "" && !fl.importImages {
		return usageError("--mirror-dir is for --import-images")
	}
	// The expressions first: a typo is a usage error, whatever the plan.
	if _, err := conformance.Select(mode, "", fl.focus, fl.skip); err != nil {
		return usageError("%v", err)
	}
	p, err := loadPlan(errOut, fl.file, false)
	if err != nil {
		return err
	}
	version := p.Versions.Kubernetes
	sel, err := conformance.Select(mode, version, fl.focus, fl.skip)
	if err != nil {
		return failed(err)
	}
	if fl.timeout > 0 {
		sel.Timeout = fl.timeout
	}
	ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	e2eTest, err := conformanceSuite(ctx, fl, version, errOut)
	if err != nil {
		return failed(err)
	}
	specs, err := conformance.ListSpecs(ctx, e2eTest)
	if err != nil {
		fmt.Fprintf(errOut, "kisgen: %v: the specs are not named before they run\n", err)
	}
	for _, n := range conformance.MissingNamed(specs, mode) {
		fmt.Fprintf(errOut, "kisgen: WARNING: mode %s names a spec this e2e.test does not have (renamed?): %s\n", mode, n)
	}
	if fl.dryRun {
		return conformanceDryRun(out, specs, sel)
	}
	if p.Network.NetworkPolicy {
		fmt.Fprintln(errOut, "kisgen: WARNING: the plan turns network policy on: pods are isolated and only the ports they declare are open (docs/network.md); the suite's specs assume they are not isolated, so some fail for that alone")
	}
	if len(roles.ConformanceImages(p)) == 0 && !fl.noImageCheck {
		return failed(fmt.Errorf("kisgen knows the e2e images of Kubernetes %s only, not of %s: pass --no-image-check if the cluster pulls them from a registry",
			strings.Join(roles.ConformanceVersions(), ", "), version))
	}

	provider := fl.provider
	if provider == "" {
		provider = p.Provider.Name
	}
	if provider != "" && provider != noProvider && !slices.Contains(providers.Names(), provider) {
		return usageError("unknown provider %q: use one of %s or %s", provider, strings.Join(providers.Names(), ", "), noProvider)
	}
	state := stateDir(fl.state, fl.file)
	targets, err := verifyTargets(p, state, provider, errOut)
	if err != nil {
		return failed(err)
	}
	if fl.insecure {
		fmt.Fprintln(errOut, "WARNING:", verify.InsecureHostKeyWarning)
	}
	vo := verify.Options{DialTimeout: fl.dialTimeout, CommandTimeout: 2 * time.Minute, InsecureIgnoreHostKey: fl.insecure}
	if !fl.noImageCheck {
		if err := checkConformanceImages(ctx, p, mode, targets, vo, fl, errOut); err != nil {
			return failed(err)
		}
	}
	master, err := connectMaster(ctx, p, targets, vo, errOut)
	if err != nil {
		return failed(err)
	}
	defer master.Close()

	o := conformance.Options{E2ETest: e2eTest, Selection: sel, Specs: specs, Cluster: p.Name, Kubernetes: version,
		NonBlockingTaints: nonBlockingTaints(p), StateDir: state, Progress: errOut}
	if fl.verbose {
		o.Output = errOut
	}
	if n, total := countSelected(specs, sel); total > 0 {
		fmt.Fprintf(errOut, "conformance %s: %d of the suite's %d specs on %s, timeout %s\n", mode, n, total, master.Host(), sel.Timeout)
	}
	s, err := conformance.Run(ctx, master, o)
	if s != nil {
		fmt.Fprintln(out)
		if werr := s.WriteText(out); werr != nil {
			return failed(werr)
		}
	}
	if err != nil {
		if s != nil && errors.Is(err, conformance.ErrSpecsFailed) {
			return silentFailure
		}
		return failed(err)
	}
	return nil
}

// conformanceSuite is the e2e.test to run: --e2e-test, else kisgen's build for version
// in the cache, built now when it is not there.
func conformanceSuite(ctx context.Context, fl conformanceRunFlags, version string, log io.Writer) (string, error) {
	if fl.e2eTest != "" {
		if _, err := os.Stat(fl.e2eTest); err != nil {
			return "", fmt.Errorf("--e2e-test: %w", err)
		}
		return fl.e2eTest, nil
	}
	cache, err := cachedir.Bin(fl.cache)
	if err != nil {
		return "", err
	}
	if !binbuild.Cached(binbuild.ProjectE2ETest, version, cache) {
		fmt.Fprintf(log, "kisgen: building Kubernetes %s's e2e.test into %s (about 8 minutes cold on 2 cores, less once Kubernetes is built; 'kisgen mirror build --conformance' builds it too)\n", version, cache)
	}
	dir, err := binbuild.E2ETest(ctx, version, cache, log)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, binbuild.E2ETestBinary), nil
}

// conformanceDryRun prints the specs the selection runs and those kisgen leaves out.
func conformanceDryRun(out io.Writer, specs []conformance.Spec, sel conformance.Selection) error {
	if len(specs) == 0 {
		return failed(errors.New("--dry-run: the suite's specs could not be listed (see above)"))
	}
	selected, err := conformance.Selected(specs, sel)
	if err != nil {
		return failed(err)
	}
	left, err := conformance.LeftOut(specs, sel)
	if err != nil {
		return failed(err)
	}
	fmt.Fprintf(out, "# conformance %s: %d of the suite's %d specs\n", sel.Mode, len(selected), len(specs))
	fmt.Fprintf(out, "# focus: %s\n", strings.Join(sel.Focus, " | "))
	if len(sel.Skip) > 0 {
		fmt.Fprintf(out, "# skip: %s\n", strings.Join(sel.Skip, " | "))
	}
	for _, s := range selected {
		fmt.Fprintln(out, s.Name)
	}
	for _, u := range left {
		fmt.Fprintf(out, "# left out by kisgen: %s\n", u.Reason)
		for _, n := range u.Specs {
			fmt.Fprintf(out, "#   %s\n", n)
		}
	}
	return nil
}

// countSelected is how many of the suite's specs sel runs, and of how many.
func countSelected(specs []conformance.Spec, sel conformance.Selection) (int, int) {
	s, err := conformance.Selected(specs, sel)
	if err != nil {
		return 0, 0
	}
	return len(s), len(specs)
}

// nonBlockingTaints are the taint keys that must not keep the suite from starting: the
// masters' control-plane taint and every taint the plan gives a node. The suite waits
// for every node to be schedulable and untainted unless its taints are listed.
func nonBlockingTaints(p *plan.Plan) []string {
	keys := []string{roles.ControlPlaneTaint.Key}
	for _, n := range p.Nodes {
		for _, t := range n.Taints {
			if !slices.Contains(keys, t.Key) {
				keys = append(keys, t.Key)
			}
		}
	}
	return keys
}

// connectMaster logs in to the first master that answers.
func connectMaster(ctx context.Context, p *plan.Plan, targets []verify.Target, o verify.Options, errOut io.Writer) (*verify.Remote, error) {
	var errs []error
	for _, m := range p.NodesWith(plan.RoleMaster) {
		for _, t := range targets {
			if t.Host != m.Host {
				continue
			}
			r, err := verify.Connect(ctx, t, o)
			if err == nil {
				return r, nil
			}
			fmt.Fprintf(errOut, "kisgen: master %s: %v\n", m.Host, err)
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("the plan has no master to run the suite on")
	}
	return nil, fmt.Errorf("no master answered: %w", errors.Join(errs...))
}

// checkConformanceImages makes sure every Kubernetes node has the images the mode's
// specs run (offline, a pod of a missing image waits for a pull that cannot happen, and
// the spec fails after minutes), importing the missing ones with --import-images.
func checkConformanceImages(ctx context.Context, p *plan.Plan, mode conformance.Mode, targets []verify.Target, o verify.Options,
	fl conformanceRunFlags, errOut io.Writer) error {
	imgs := conformance.RequiredImages(p, mode)
	refs := conformance.Refs(imgs)
	mirrorDir := fl.mirrorDir
	if mirrorDir == "" && p.Mirror.ChecksumsFile != "" {
		mirrorDir = filepath.Dir(p.Mirror.ChecksumsFile)
		if !filepath.IsAbs(mirrorDir) {
			mirrorDir = filepath.Join(filepath.Dir(p.File), mirrorDir)
		}
	}
	if fl.importImages && mirrorDir == "" {
		return errors.New("--import-images: the plan names no mirror.checksums, whose folder is the mirror: give --mirror-dir")
	}
	var problems []string
	for _, t := range targets {
		n := p.Node(t.Host)
		if n == nil || !n.IsKubernetesNode() {
			continue
		}
		r, err := verify.Connect(ctx, t, o)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", t.Host, err))
			continue
		}
		missing, err := conformance.MissingImages(ctx, r, refs)
		if err == nil && len(missing) > 0 && fl.importImages {
			for _, img := range imgs {
				if !slices.Contains(missing, img.Ref) {
					continue
				}
				if err = conformance.ImportImage(ctx, r, filepath.Join(mirrorDir, filepath.FromSlash(img.Archive)), errOut); err != nil {
					break
				}
			}
			if err == nil {
				missing, err = conformance.MissingImages(ctx, r, refs)
			}
		}
		r.Close()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", t.Host, err))
		case len(missing) > 0:
			problems = append(problems, fmt.Sprintf("%s lacks %s", t.Host, strings.Join(missing, ", ")))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	var archives []string
	for _, img := range imgs {
		archives = append(archives, img.Archive)
	}
	return fmt.Errorf("%w:\n  %s\nThe specs would wait for pulls that cannot happen offline. List the archives (%s) in mirror.image_archives "+
		"(kisgen plan --image-archives cluster,conformance) and build them (kisgen mirror build --conformance) before the nodes boot, "+
		"or copy them into this running cluster with --import-images; --no-image-check when the cluster pulls from a registry",
		conformance.ErrImagesMissing, strings.Join(problems, "\n  "), strings.Join(archives, " "))
}

func newConformanceResultsCmd() *cobra.Command {
	var file, state, output string
	c := &cobra.Command{
		Use:   "results",
		Short: "Print the last conformance run's summary",
		Long: `Print the summary of the last 'kisgen conformance run' of the plan's cluster, from
STATE/conformance/summary.json: the mode and the expressions it gave the suite, how many
specs passed, failed, were skipped by the suite (with its reasons) or never ran, each
failure with its message and place, the specs kisgen left out and why, and the suite's
own closing lines. -o json prints the summary as it is stored.

Exit status: 0 when that run passed, 1 when it failed or there is none.`,
		Example: `  kisgen conformance results
  kisgen conformance results -o json | jq '.failures[].name'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError("unknown output format %q: use text or json", output)
			}
			s, err := conformance.Load(stateDir(state, file))
			if err != nil {
				return failed(err)
			}
			if output == "json" {
				err = s.WriteJSON(c.OutOrStdout())
			} else {
				err = s.WriteText(c.OutOrStdout())
			}
			if err != nil {
				return failed(err)
			}
			if !s.OK() {
				return silentFailure
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
