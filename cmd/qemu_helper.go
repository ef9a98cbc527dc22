package cmd

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/providers/qemu"
)

// newQEMUHelperCmd is the hidden command the qemu provider runs as its helper processes:
// the VMs' network switch (detached) and the relay behind each VM's mirror forward.
func newQEMUHelperCmd() *cobra.Command {
	return &cobra.Command{
		Use:                qemu.HelperArg,
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			if code := qemu.HelperMain(args, c.InOrStdin(), c.OutOrStdout(), c.ErrOrStderr()); code != 0 {
				return &exitError{code: code, err: errors.New("")}
			}
			return nil
		},
	}
}
