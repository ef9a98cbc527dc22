// Command examplekeys creates the SSH key pair each example plan names (ssh_key, resolved
// relative to the plan as kisgen resolves it), so the examples work as they are from the
// repository root: `make examples`, then `kisgen validate -f examples/ha.yaml`. The keys
// are generated on the machine and git-ignored; a private key is never committed. An
// existing key is kept.
package main
