package cmd

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kisgen/kisgen/conformance"
	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/packer"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// registerCompletions teaches the shell completion (`kisgen completion SHELL`) the values
// of the flags and arguments that take one of a known set. Flags are matched by name over
// the whole tree, so a command that gains a --provider, --format, --os or --node flag
// completes it without a change here: --provider gives the providers, --format the
// user-data formats, --os the operating systems, --builder Packer's builders, --output
// the formats its usage names, --node and --host the plan's node names, -f plan files.
// The rest are listed by command. It is called once from NewRootCmd, after every command
// is added; the error names a listed command or flag that is not in the tree (every test
// that builds the tree would then fail).
func registerCompletions(root *cobra.Command) error {
	var errs []string
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	byName := map[string]cobra.CompletionFunc{
		"provider": fixed(append(providers.Names(), "none")...),
		"format":   fixed(string(plan.FormatCloudInit), string(plan.FormatIgnition)),
		"os":       fixed(plan.SupportedOS...),
		"builder":  fixed(packer.Builders()...),
		"node":     completeNodeNames,
		"host":     completeNodeNames,
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			fn := byName[f.Name]
			switch {
			case c == root || c.Name() == "completion" || c.Parent() != nil && c.Parent().Name() == "completion":
				return
			case (f.Name == "node" || f.Name == "host") && c.Name() == "plan":
				return // plan's --node defines new nodes
			case f.Name == "os" && c.CommandPath() == "kisgen image build":
				fn = fixed(image.SupportedOS()...)
			case f.Name == "output":
				if m := outputValues.FindStringSubmatch(f.Usage); m != nil {
					fn = fixed(m[1], m[2])
				}
			case f.Name == "file" && f.Shorthand == "f" && c.Name() != "plan":
				_ = c.MarkFlagFilename("file", "yaml", "yml")
			}
			if fn != nil {
				if err := c.RegisterFlagCompletionFunc(f.Name, fn); err != nil {
					errs = append(errs, fmt.Sprintf("%s --%s: %v", c.CommandPath(), f.Name, err))
				}
			}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)

	flag := func(path, name string, f cobra.CompletionFunc) {
		c, err := findCmd(root, path)
		if err == nil {
			err = c.RegisterFlagCompletionFunc(name, f)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s --%s: %v", path, name, err))
		}
	}
	args := func(path string, f cobra.CompletionFunc) {
		c, err := findCmd(root, path)
		if err != nil {
			errs = append(errs, err.Error())
			return
		}
		c.ValidArgsFunction = f
	}
	args("provision", func(c *cobra.Command, a []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(a) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return providers.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	flag("plan", "cni", fixed("calico", "bridge", "custom"))
	flag("plan", "networking", fixed(string(plan.ModeOverlay), string(plan.ModeRouted)))
	flag("plan", "name-resolution", fixed("hosts", "dns"))
	flag("plan", "addressing", fixed("generate", "list"))
	flag("certs rotate", "ca", fixed(pki.CA, pki.EtcdCA, pki.FrontProxyCA))
	var modes []string
	for _, m := range conformance.Modes() {
		modes = append(modes, string(m))
	}
	flag("conformance run", "mode", fixed(modes...))
	args("certs rotate", completeCertificates)
	if len(errs) > 0 {
		return fmt.Errorf("completion registration: %s", strings.Join(errs, "; "))
	}
	return nil
}

// outputValues reads the two values of an --output flag from its usage, "output format:
// text or json", so the completion cannot drift from what the command accepts.
var outputValues = regexp.MustCompile(`^output format: ([a-z]+) or ([a-z]+)$`)

// completeNodeNames offers the host names of the plan that -f names (the default plan
// when none is given); nothing when it does not load.
func completeNodeNames(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	file := plan.DefaultPlanFileName
	if f := c.Flags().Lookup("file"); f != nil {
		file = f.Value.String()
	}
	p, _, err := plan.Load(file)
	if err != nil || p == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := make([]string, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		names = append(names, n.Host)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeCertificates offers the leaf certificates in the plan's state directory (what
// `kisgen certs list` shows), not the CAs, which rotate with --ca.
func completeCertificates(c *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	file, _ := c.Flags().GetString("file")
	state, _ := c.Flags().GetString("state")
	b, err := pki.Load(stateDir(state, file))
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, ci := range b.Certificates(time.Now()) {
		if ci.Kind != "ca" && !strings.Contains(ci.Name, "/") {
			names = append(names, ci.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// findCmd returns the command at path ("certs rotate"), or an error naming it.
func findCmd(root *cobra.Command, path string) (*cobra.Command, error) {
	c, rest, err := root.Find(strings.Fields(path))
	if err != nil || len(rest) > 0 || c.CommandPath() != root.Name()+" "+path {
		return nil, fmt.Errorf("no command %q", path)
	}
	return c, nil
}
