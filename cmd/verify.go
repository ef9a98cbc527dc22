package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/roles"
	"github.com/kisgen/kisgen/verify"
)

func newVerifyCmd() *cobra.Command {
	var (
		file, state, output string
		provider            string
		wait, interval      time.Duration
		dialTimeout, cmdTO  time.Duration
		concurrency         int
		insecure            bool
	)
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check every node over SSH",
		Long: `Connect to every node of the plan over SSH and check, per node: sshd answers, the
host key is the one pinned in the node's user-data, the plan's user logs in and may use
sudo, cloud-init or Ignition finished, kisgen's install is done and its pre-flight
checks passed, the role's units are active and ports listening, certificates and files
match the state directory and are not near expiry, the hosts block is as planned, etcd
members equal the plan and are healthy, each API server is ready, each node is
registered with its labels and taints, and Calico is ready (BGP established in routed
mode). Checks that do not apply to a node are skipped and say why.

Nodes are checked in parallel (--concurrency). Where each node's sshd is and which host
key it must present come from the instances record 'kisgen provision' wrote in the
state directory (instances.json), whichever provider booted the machines: qemu's
loopback port forwards, a cloud's addresses, the plan's addresses for PXE. --provider
names the provider the record must be of (default: the plan's provider.name); with
provider none (machines kisgen did not boot) the plan's addresses are used.
With --wait, verify repeats until everything passes or the time runs out.

Exit status: 0 when every check on every node passes, 1 when any fails, 2 when the
command line is wrong.`,
		Example: `  kisgen verify
  kisgen verify -f examples/ha.yaml --wait 20m
  kisgen verify -f prod.yaml --provider aws
  kisgen verify -o json | jq '.nodes[] | select(.ok | not) | .host'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usageError("unknown output format %q: use table or json", output)
			}
			if concurrency < 1 {
				return usageError("--concurrency must be at least 1")
			}
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			if provider == "" {
				provider = p.Provider.Name
			}
			if provider != "" && provider != noProvider && !slices.Contains(providers.Names(), provider) {
				return usageError("unknown provider %q: use one of %s or %s", provider, strings.Join(providers.Names(), ", "), noProvider)
			}
			state := stateDir(state, file)
			targets, err := verifyTargets(p, state, provider, c.ErrOrStderr())
			if err != nil {
				return failed(err)
			}
			if insecure {
				fmt.Fprintln(c.ErrOrStderr(), "WARNING:", verify.InsecureHostKeyWarning)
			}
			opts := verify.Options{Concurrency: concurrency, DialTimeout: dialTimeout, CommandTimeout: cmdTO, InsecureIgnoreHostKey: insecure}
			var rep *verify.Report
			if wait > 0 {
				prog := newVerifyProgress(c.ErrOrStderr(), targets, wait)
				opts.OnNode = prog.Node
				rep = verify.Wait(c.Context(), targets, opts, verify.WaitOptions{Timeout: wait, Interval: interval, OnRound: prog.Round})
				prog.Done()
			} else {
				rep = verify.Run(c.Context(), targets, opts)
			}
			out := c.OutOrStdout()
			if output == "json" {
				err = verify.WriteJSON(out, rep)
			} else {
				err = verify.WriteTable(out, rep)
			}
			if err != nil {
				return failed(err)
			}
			if !rep.OK {
				return silentFailure
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	f := c.Flags()
	f.StringVar(&provider, "provider", "", "provider that booted the machines, whose instances record to read (default: the plan's provider.name; none: the plan's addresses)")
	f.DurationVar(&wait, "wait", 0, "repeat the checks until all pass or this much time has passed (e.g. 20m)")
	f.DurationVar(&interval, "interval", 10*time.Second, "pause between rounds with --wait")
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	f.IntVar(&concurrency, "concurrency", 32, "how many nodes to check at once")
	f.DurationVar(&dialTimeout, "dial-timeout", 10*time.Second, "time allowed to connect and to log in")
	f.DurationVar(&cmdTO, "command-timeout", 30*time.Second, "time allowed for each remote command")
	f.BoolVar(&insecure, "insecure-ignore-host-key", false, "accept any host key: a machine posing as a node could fake its results (see the warning it prints)")
	return c
}

// newVerifyProgress redraws progress on a terminal and prints plain lines elsewhere.
func newVerifyProgress(w io.Writer, targets []verify.Target, wait time.Duration) *verify.Progress {
	tty, width, rows := false, 0, 0
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
		width, rows, _ = term.GetSize(int(f.Fd()))
	}
	return verify.NewProgress(w, tty, width, rows, targets, wait)
}

// noProvider is the plan's provider name for machines kisgen did not boot: they are
// reached at the plan's addresses, with no instances record.
const noProvider = "none"

// verifyTargets builds the targets from the plan, its SSH key, the instances record of
// provider (SSH addresses and pinned host keys, as provisioned) and, once the plan is
// rendered, the state directory's PKI and every node's rendered model (what must be on
// it; the host key of a node the record does not pin). Before that, only what the plan
// and the record decide is checked.
func verifyTargets(p *plan.Plan, state, provider string, errOut io.Writer) ([]verify.Target, error) {
	keyPath := p.SSH.KeyFile
	if !filepath.IsAbs(keyPath) {
		keyPath = filepath.Join(filepath.Dir(p.File), keyPath)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("SSH key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("SSH key %s: %w", keyPath, err)
	}
	in := verify.PlanInputs{Signer: signer}
	if provider != "" && provider != noProvider {
		if in.Instances, err = instances.LoadFor(state, p.Name, provider); err != nil {
			return nil, err
		}
		for _, n := range p.Nodes {
			if _, ok := in.Instances.Node(n.Host); !ok {
				fmt.Fprintf(errOut, "kisgen: %s lists no machine for %s (its provisioning failed?): trying the plan's address\n", instances.Path(state), n.Host)
			}
		}
	}
	bundle, err := pki.Load(state)
	if errors.Is(err, pki.ErrNoState) {
		fmt.Fprintf(errOut, "kisgen: %v: checking only what the plan decides; no host key is pinned\n", err)
		return verify.FromPlan(p, in)
	}
	if err != nil {
		return nil, err
	}
	targets, err := verify.FromPlan(p, in)
	if err != nil {
		return nil, err
	}
	rin, err := roles.LoadInputs(p)
	if err != nil {
		return nil, err
	}
	cluster, err := roles.NewCluster(p, bundle, rin)
	if err != nil {
		return nil, err
	}
	for i, n := range p.Nodes {
		model, err := cluster.Node(n)
		if err != nil {
			return nil, err
		}
		if err := verify.ApplyRoles(&targets[i], model); err != nil {
			return nil, fmt.Errorf("%s: %w", n.Host, err)
		}
	}
	return targets, nil
}
