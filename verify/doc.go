// Package verify checks kisgen nodes over SSH after they have booted and installed
// themselves, and says exactly what is wrong with each.
//
// The inputs are explicit: a Target per node says where its sshd is (Addr), how to log in
// (User, Signer), which host key to expect (HostKey, pinned: never trust on first use) and
// what must be true on it (Expectations). Callers build Targets from the plan, the roles
// package and the PKI bundle (see FromPlan for what the plan alone decides); the package
// knows nothing about how nodes are rendered.
//
// A run is a list of named phases (checks) per node, run in order on one SSH connection,
// with nodes checked in parallel under a concurrency limit (k0sctl's phase manager is the
// model). Each check passes, fails with a reason, or is skipped and says why (it does not
// apply to the node's roles, nothing was expected, or an earlier failure prevents it).
// SSH-level faults (connection refused, timeouts, wrong host key, authentication refused,
// sudo refused, a command missing) are classified, carry a stable Reason code, and never
// stop other nodes from being checked. Wait repeats runs until everything passes or time
// runs out.
//
// Commands needing root run through `sudo -n` so that a password prompt can never hang a
// check. RemoteCommands documents every command a node must have.
package verify
