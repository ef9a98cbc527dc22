package verify

import "errors"

// Faults reaching or using a node. Each is wrapped with the node's address and what was
// observed; Reason turns one into a stable code for -o json.
var (
	// ErrConnRefused: nothing listens on the SSH address (node not booted, sshd not
	// started, or the wrong port).
	ErrConnRefused = errors.New("connection refused")
	// ErrTimeout: no TCP answer, or a TCP connection that never spoke SSH, within the
	// dial timeout.
	ErrTimeout = errors.New("timed out")
	// ErrUnreachable: any other network failure (no route, unknown host, reset).
	ErrUnreachable = errors.New("unreachable")
	// ErrHostKeyMismatch: the node offered a host key other than the pinned one.
	ErrHostKeyMismatch = errors.New("host key mismatch")
	// ErrNoHostKey: no host key is pinned for the node and host keys are not ignored.
	ErrNoHostKey = errors.New("no pinned host key")
	// ErrAuthRefused: the node refused the SSH user's key.
	ErrAuthRefused = errors.New("authentication refused")
	// ErrSudoRefused: `sudo -n` refused to run a command as root (password required, user
	// not in sudoers).
	ErrSudoRefused = errors.New("sudo refused")
	// ErrCommandNotFound: a command a check runs is not installed on the node (exit 127).
	ErrCommandNotFound = errors.New("command not found")
	// ErrCommandTimeout: a remote command did not finish within the command timeout.
	ErrCommandTimeout = errors.New("command timed out")
	// ErrConnectionLost: the SSH connection broke while a check ran.
	ErrConnectionLost = errors.New("connection lost")

	// ErrRemoteCommand: a command run through Remote.Run exited non-zero.
	ErrRemoteCommand = errors.New("remote command failed")

	// ErrCheckFailed: the node answered but a check found something wrong.
	ErrCheckFailed = errors.New("check failed")
	// ErrBadTarget: a Target is incomplete (no address, user or key).
	ErrBadTarget = errors.New("invalid target")
)

// reasons maps each fault to the stable code printed in reports.
var reasons = []struct {
	err  error
	code string
}{
	{ErrConnRefused, "connection-refused"},
	{ErrTimeout, "timeout"},
	{ErrUnreachable, "unreachable"},
	{ErrHostKeyMismatch, "host-key-mismatch"},
	{ErrNoHostKey, "no-host-key"},
	{ErrAuthRefused, "auth-refused"},
	{ErrSudoRefused, "sudo-refused"},
	{ErrCommandNotFound, "command-not-found"},
	{ErrCommandTimeout, "command-timeout"},
	{ErrConnectionLost, "connection-lost"},
	{ErrBadTarget, "invalid-target"},
}

// Reason returns the stable code of a fault ("connection-refused", "timeout",
// "host-key-mismatch", "auth-refused", "sudo-refused", "command-not-found", …), or "" for
// an error that is none of them.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.code
		}
	}
	return ""
}
