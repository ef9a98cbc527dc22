package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/pki"
)

func newCertsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "certs",
		Short: "List, check and rotate the cluster's certificates",
		Long: `The cluster PKI lives in the state directory (default generated/ beside the plan):
pki/ holds the CAs, the service-account key and the cluster-wide certificates,
nodes/HOST.pem each host's certificates and SSH host key, kubeconfig/ the control
plane's kubeconfigs. kisgen render issues what is missing; these commands inspect
and rotate it. See docs/pki.md.`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newCertsIssueCmd(), newCertsListCmd(), newCertsCheckCmd(), newCertsRotateCmd())
	return c
}

func newCertsIssueCmd() *cobra.Command {
	var file, state string
	c := &cobra.Command{
		Use:   "issue",
		Short: "Issue every certificate and key the plan needs (what render does first)",
		Long: `Issue or reuse every certificate, key, kubeconfig and SSH host key the plan needs,
without rendering user-data. Existing CAs are never replaced; a certificate is
reissued only when it no longer matches the plan or is inside the renewal window,
and every change is printed with its reason. Running it again changes nothing.`,
		Example: `  kisgen certs issue
  kisgen certs issue -f examples/ha.yaml --state /secure/ha-state`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			dir := stateDir(state, file)
			b, changes, err := pki.Ensure(p, dir, pki.Options{Log: c.OutOrStdout()})
			if err != nil {
				return failed(err)
			}
			printWarnings(c.ErrOrStderr(), b.Warnings())
			printSummary(c.OutOrStdout(), changes, dir)
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	return c
}

func newCertsListCmd() *cobra.Command {
	var file, state, output string
	c := &cobra.Command{
		Use:   "list",
		Short: "List every certificate: name, CN, SANs, expiry and days left",
		Long: `List every certificate in the state directory of the plan's cluster without
changing anything (a private key found readable by others is made 0600, with a warning).
CAs that are only trusted during a CA rotation appear as next/NAME and previous/NAME.`,
		Example: `  kisgen certs list
  kisgen certs list -o json | jq '.[] | select(.days_left < 60) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return usageError("unknown output format %q: use table or json", output)
			}
			b, err := loadPKI(c, file, state)
			if err != nil {
				return err
			}
			return printCerts(c.OutOrStdout(), b.Certificates(time.Now()), output)
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return c
}

func newCertsCheckCmd() *cobra.Command {
	var file, state, within, output string
	c := &cobra.Command{
		Use:   "check",
		Short: "Fail when a certificate expires within a given time",
		Long: `Check every certificate in the state directory, CAs included. Exit status 1 when any
expires within --within (or has expired), 0 otherwise. Renew leaves with
'kisgen render' (it reissues what is inside the plan's renew_before window) or
'kisgen certs rotate'; CAs with 'kisgen certs rotate --ca'.`,
		Example: `  kisgen certs check --within 30d
  kisgen certs check --within 2160h -o json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			d, err := parseDays(within)
			if err != nil {
				return usageError("--within %q: %v (e.g. 30d or 720h)", within, err)
			}
			if output != "table" && output != "json" {
				return usageError("unknown output format %q: use table or json", output)
			}
			b, err := loadPKI(c, file, state)
			if err != nil {
				return err
			}
			now := time.Now()
			all := b.Certificates(now)
			if len(all) == 0 {
				return failed(fmt.Errorf("%s holds no certificates: run 'kisgen certs issue'", stateDir(state, file)))
			}
			soon := pki.Expiring(all, now, d)
			out := c.OutOrStdout()
			if output == "json" {
				if soon == nil {
					soon = []pki.CertInfo{}
				}
				if err := printCerts(out, soon, output); err != nil {
					return err
				}
			} else if len(soon) == 0 {
				first := all[0]
				for _, ci := range all {
					if ci.NotAfter.Before(first.NotAfter) {
						first = ci
					}
				}
				fmt.Fprintf(out, "all %d certificates are valid for more than %s (the first to expire is %s, on %s)\n",
					len(all), within, first.Name, first.NotAfter.Format("2006-01-02"))
			} else if err := printCerts(out, soon, output); err != nil {
				return err
			}
			if len(soon) > 0 {
				return failed(fmt.Errorf("%d of %d certificates expire within %s", len(soon), len(all), within))
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().StringVar(&within, "within", "30d", "fail when a certificate expires within this time (Nd or a Go duration)")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return c
}

func newCertsRotateCmd() *cobra.Command {
	var (
		file, state, ca             string
		all, promote, finish, abort bool
	)
	c := &cobra.Command{
		Use:   "rotate [NAME...]",
		Short: "Reissue certificates, or rotate a CA step by step",
		Long: `Reissue the named leaf certificates (or every one with --all) even though they are
still valid. Re-render and roll out the nodes afterwards.

With --ca[=NAME] (ca, etcd-ca or front-proxy-ca; default ca) rotate a CA in three
steps, re-rendering and rolling out the affected nodes after each:
  kisgen certs rotate --ca            # 1. make the incoming CA, trusted beside the current one
  kisgen certs rotate --ca --promote  # 2. the incoming CA signs; its leaves are reissued
  kisgen certs rotate --ca --finish   # 3. stop trusting the outgoing CA
--abort drops an incoming CA that was not promoted. No step deletes a CA key: the
outgoing CA is archived in pki/retired/. See docs/pki.md.`,
		Example: `  kisgen certs rotate kubelet-worker1 kubelet-serving-worker1
  kisgen certs rotate --all
  kisgen certs rotate --ca=etcd-ca --promote`,
		RunE: func(c *cobra.Command, args []string) error {
			steps := 0
			for _, b := range []bool{promote, finish, abort} {
				if b {
					steps++
				}
			}
			caSet := c.Flags().Changed("ca")
			switch {
			case steps > 1:
				return usageError("--promote, --finish and --abort are separate steps: give one")
			case steps == 1 && !caSet:
				return usageError("--promote, --finish and --abort are steps of a CA rotation: add --ca[=NAME]")
			case caSet && (all || len(args) > 0):
				return usageError("--ca rotates a CA: do not name certificates or add --all")
			case !caSet && !all && len(args) == 0:
				return usageError("name the certificates to reissue (see 'kisgen certs list'), or pass --all or --ca")
			case all && len(args) > 0:
				return usageError("--all reissues every certificate: do not name any")
			}
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			dir := stateDir(state, file)
			out := c.OutOrStdout()
			opts := pki.Options{Log: out}
			if !caSet {
				opts.Rotate, opts.RotateAll = args, all
				_, changes, err := pki.Ensure(p, dir, opts)
				if err != nil {
					return failed(err)
				}
				printSummary(out, changes, dir)
				fmt.Fprintln(out, "Next: re-render (kisgen render) and roll the new user-data out to the nodes that hold these certificates.")
				return nil
			}
			step := pki.RotationStarted
			switch {
			case promote:
				err, step = pki.PromoteCA(dir, ca, opts), pki.RotationPromoted
			case finish:
				err, step = pki.FinishCARotation(dir, ca, opts), pki.RotationNone
			case abort:
				err = pki.AbortCARotation(dir, ca, opts)
			default:
				_, err = pki.StartCARotation(p, dir, ca, opts)
			}
			if err != nil {
				return failed(err)
			}
			_, changes, err := pki.Ensure(p, dir, opts)
			if err != nil {
				return failed(err)
			}
			printSummary(out, changes, dir)
			if abort {
				fmt.Fprintf(out, "The incoming %s was dropped (archived in pki/retired/). Re-render and roll out the nodes you already rolled out since the start.\n", ca)
				return nil
			}
			fmt.Fprintln(out, pki.RotationAdvice(ca, step))
			return nil
		},
	}
	addPlanFlag(c, &file)
	addStateFlag(c, &state)
	c.Flags().BoolVar(&all, "all", false, "reissue every leaf certificate")
	c.Flags().StringVar(&ca, "ca", pki.CA, "rotate this CA (ca, etcd-ca or front-proxy-ca) instead of leaves")
	c.Flags().Lookup("ca").NoOptDefVal = pki.CA
	c.Flags().BoolVar(&promote, "promote", false, "CA rotation step 2: the incoming CA starts signing")
	c.Flags().BoolVar(&finish, "finish", false, "CA rotation step 3: stop trusting the outgoing CA")
	c.Flags().BoolVar(&abort, "abort", false, "drop an incoming CA that was not promoted")
	return c
}

// printSummary prints one line counting what Ensure did.
func printSummary(out io.Writer, changes []pki.Change, dir string) {
	created, reissued := 0, 0
	for _, ch := range changes {
		if ch.Action == pki.ActionCreated {
			created++
		} else {
			reissued++
		}
	}
	if created+reissued == 0 {
		fmt.Fprintf(out, "%s: up to date, nothing changed\n", dir)
		return
	}
	fmt.Fprintf(out, "%s: %d created, %d reissued\n", dir, created, reissued)
}

func printCerts(out io.Writer, certs []pki.CertInfo, output string) error {
	if output == "json" {
		if certs == nil {
			certs = []pki.CertInfo{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(certs)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tCN\tSANS\tNOT AFTER\tDAYS LEFT")
	for _, ci := range certs {
		sans := strings.Join(ci.SANs, ",")
		if sans == "" {
			sans = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", ci.Name, ci.Kind, ci.CN, sans, ci.NotAfter.Format("2006-01-02 15:04"), ci.DaysLeft)
	}
	return tw.Flush()
}

// parseDays parses "30d" (whole days) or any Go duration ("720h").
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("want a whole number of days")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration")
	}
	return d, nil
}
