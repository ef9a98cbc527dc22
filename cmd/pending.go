package cmd

import (
	"errors"

	"github.com/spf13/cobra"
)

// TEMPORARY scaffolding while the commands below are being built in parallel; each is
// replaced by its own file (plan.go, certs.go, render.go, …) and this file is deleted.

var errPending = errors.New("not built yet")

func pendingCmd(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, RunE: func(*cobra.Command, []string) error { return failed(errPending) }}
}
