// Command kisgen compiles a Kubernetes cluster plan into per-node user-data that makes
// each machine install itself, boots the machines, and verifies the result.
package main

import (
	"os"

	"github.com/kisgen/kisgen/cmd"
)

func main() {
	os.Exit(cmd.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
