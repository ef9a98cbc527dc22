package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/packer"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
)

// registerCompletions teaches the shell completion (`kisgen completion SHELL`) the values
// of the flags and arguments that take one of a known set: providers, user-data formats,
// operating systems, output formats, builders, CAs and the certificates of the plan's
// state. It is called once from NewRootCmd, after every command is added, so the values
// live in one place; the error names a command or flag that is not in the tree (a test
// keeps it nil).
func registerCompletions(root *cobra.Command) error {
	formats := []string{string(plan.FormatCloudInit), string(plan.FormatIgnition)}
	var errs []string
	flag := func(path, name string, f cobra.CompletionFunc) {
		c, err := findCmd(root, path)
		if err == nil {
			err = c.RegisterFlagCompletionFunc(name, f)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s --%s: %v", path, name, err))
		}
	}
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
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
	flag("render", "format", fixed(formats...))
	flag("diff", "format", fixed(formats...))
	flag("plan", "os", fixed(plan.SupportedOS...))
	flag("plan", "provider", fixed(append(providers.Names(), "none")...))
	flag("plan", "cni", fixed("calico", "bridge", "custom"))
	flag("plan", "networking", fixed(string(plan.ModeOverlay), string(plan.ModeRouted)))
	flag("plan", "name-resolution", fixed("hosts", "dns"))
	flag("plan", "addressing", fixed("generate", "list"))
	flag("image build", "os", fixed(image.SupportedOS()...))
	flag("packer", "builder", fixed(packer.Builders()...))
	flag("certs rotate", "ca", fixed(pki.CA, pki.EtcdCA, pki.FrontProxyCA))
	args("certs rotate", completeCertificates)
	for _, path := range []string{"validate", "diff", "version"} {
		flag(path, "output", fixed("text", "json"))
	}
	for _, path := range []string{"certs list", "certs check", "verify"} {
		flag(path, "output", fixed("table", "json"))
	}
	// -f takes a plan: offer YAML files rather than every file.
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if f := c.Flags().Lookup("file"); f != nil && f.Shorthand == "f" && c.Name() != "plan" {
			_ = c.MarkFlagFilename("file", "yaml", "yml")
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if len(errs) > 0 {
		return fmt.Errorf("completion for flags that do not exist: %s", strings.Join(errs, "; "))
	}
	return nil
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
