package cmd

// Every provider package registers itself in its init; importing it here is what makes
// it available to `kisgen provision`. One line per provider.
import (
	_ "github.com/kisgen/kisgen/providers/qemu"
)
