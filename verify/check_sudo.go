package verify

import (
	"context"
	"errors"
)

// checkSudo proves that the SSH user may run commands as root without a password, which
// every check marked root needs. When it fails, those checks are skipped and say so.
var checkSudo = &check{
	Name:  "sudo",
	Title: "The SSH user may use sudo without a password (sudo -n)",
	skip:  always,
	run: func(ctx context.Context, n *node) CheckResult {
		out, err := n.exec(ctx, true, "true")
		if err != nil {
			n.sudoErr = err
			return failed(err)
		}
		if out.Exit != 0 {
			n.sudoErr = errors.New(commandFailed([]string{"sudo", "-n", "true"}, out))
			return failedf("%v", n.sudoErr)
		}
		return passed("%s may run commands as root", n.t.User)
	},
}
