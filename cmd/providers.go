package cmd

// Every provider package registers itself in its init; importing it here is what makes
// it available to `kisgen provision`. One line per provider.
import (
	_ "github.com/kisgen/kisgen/providers/ec2"
	_ "github.com/kisgen/kisgen/providers/metal"
	_ "github.com/kisgen/kisgen/providers/pxe"
	_ "github.com/kisgen/kisgen/providers/qemu"
	_ "github.com/kisgen/kisgen/providers/vsphere"
)
