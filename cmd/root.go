package cmd

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and found a problem (invalid plan, failed check)
	ExitUsage = 2 // the command line itself is wrong
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// failed wraps err so that Execute exits with code 1 without printing usage.
func failed(err error) error { return &exitError{code: ExitFail, err: err} }

// silentFailure makes Execute exit 1 without printing anything more: the command has
// already printed its report.
var silentFailure = &exitError{code: ExitFail, err: errors.New("")}

// usageError marks an error in the command line (exit 2).
func usageError(format string, a ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, a...)}
}

// NewRootCmd builds the kisgen command tree. Every subcommand is registered here, in one
// place, so the whole CLI can be read at a glance.
func NewRootCmd(in io.Reader, out, errOut io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "kisgen",
		Short: "Compile a Kubernetes cluster plan into machines that install themselves",
		Long: `kisgen turns a cluster plan (kismatic-cluster.yaml) into per-node user-data —
cloud-init or Ignition — holding each node's certificates, systemd units, Calico
configuration and hosts file. Machines booted with it install Kubernetes by
themselves; SSH is used only to verify the result.

Typical flow:
  kisgen plan                          # answer a few questions, get kismatic-cluster.yaml
  kisgen validate                      # check it and see its topology
  kisgen render                        # per-node user-data in userdata/ (and the cluster PKI)
  kisgen provision qemu                # boot local VMs with it (or aws, vsphere, packet, pxe)
  kisgen verify --wait 30m             # check every node over SSH
  kisgen conformance run               # Kubernetes' own e2e suite, from a master
Local VMs also need their image and, for what the nodes download, a mirror on this
machine: kisgen image build, kisgen mirror build and kisgen mirror serve (see README.md).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what `kisgen version` prints. cobra prints Version through the
	// template, so the whole text goes in Version (a template of its own would be parsed
	// as one, braces and all). The flag is declared here to keep -v free.
	root.Version = currentVersion().text()
	root.SetVersionTemplate("{{.Version}}")
	root.Flags().Bool("version", false, "print kisgen's version (as 'kisgen version')")
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v\nRun '%s --help' for usage.", err, c.CommandPath())
	})
	root.AddCommand(
		newVersionCmd(),
		newPlanCmd(),
		newValidateCmd(),
		newCertsCmd(),
		newRenderCmd(),
		newDiffCmd(),
		newProvisionCmd(),
		newUpgradeCmd(),
		newStatusCmd(),
		newKubeconfigCmd(),
		newVerifyCmd(),
		newConformanceCmd(),
		newMirrorCmd(),
		newImageCmd(),
		newBundleCmd(),
		newServeCmd(),
		newPackerCmd(),
		newQEMUHelperCmd(),
		newDocsCmd(),
	)
	// cobra's completion command shows its help for an unknown shell; make that a usage
	// error (exit 2) like every other wrong argument.
	root.InitDefaultCompletionCmd()
	if err := registerCompletions(root); err != nil {
		panic(err) // a programming error: TestCompletionsRegister names it
	}
	if c, _, err := root.Find([]string{"completion"}); err == nil && c.Name() == "completion" {
		c.Args = cobra.ArbitraryArgs // cobra.NoArgs would answer before RunE, without a suggestion
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown shell %q: use bash, zsh, fish or powershell%s", args[0], didYouMean(c, args[0]))
			}
			return c.Help()
		}
	}
	rejectUnknownSubcommands(root)
	// `kisgen help chek` likewise: cobra's help prints "Unknown help topic" and exits 0.
	root.InitDefaultHelpCmd()
	if h, _, err := root.Find([]string{"help"}); err == nil && h.Name() == "help" && h.Run != nil {
		show := h.Run
		h.RunE = func(c *cobra.Command, args []string) error {
			found, rest, err := root.Find(args)
			switch {
			case err != nil:
				return usageError("unknown help topic %q%s", strings.Join(args, " "), didYouMean(root, args[0]))
			case len(rest) > 0:
				return usageError("unknown help topic %q%s", strings.Join(args, " "), didYouMean(found, rest[0]))
			}
			show(c, args)
			return nil
		}
	}
	return root
}

// rejectUnknownSubcommands makes every command group (certs, mirror, provision, …) answer
// an unknown subcommand with a usage error and a did-you-mean, as the root does. Without
// a RunE cobra shows a group's help and exits 0 for `kisgen certs chek`, so a typo in a
// script passes unnoticed.
func rejectUnknownSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		rejectUnknownSubcommands(c)
		if !c.HasSubCommands() || c.Runnable() {
			continue
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return usageError("unknown command %q for %q%s\nRun '%s --help' for usage.", args[0], c.CommandPath(), didYouMean(c, args[0]), c.CommandPath())
		}
	}
}

// didYouMean lists c's subcommands close to typed, the way cobra words it for the root.
func didYouMean(c *cobra.Command, typed string) string {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	s := c.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	return "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
}

// Execute runs kisgen with args and returns the process exit code.
func Execute(args []string, in io.Reader, out, errOut io.Writer) int {
	root := NewRootCmd(in, out, errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if msg := ee.Error(); msg != "" {
			fmt.Fprintln(errOut, "kisgen:", msg)
		}
		return ee.code
	}
	fmt.Fprintln(errOut, "kisgen:", err)
	// Cobra's own argument and unknown-command errors are usage errors.
	if isCobraUsageError(err) {
		return ExitUsage
	}
	return ExitFail
}

func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
