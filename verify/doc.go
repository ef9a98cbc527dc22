// Package verify checks kisgen nodes over SSH after they have booted and installed
// themselves, and says exactly what is wrong with each.
//
// The inputs are explicit: a Target per node says where its sshd is (Addr), how to log in
// (User, Signer), which host key to expect (HostKey, pinned: never trust on first use) and
// what must be true on it (Expectations). FromPlan fills what the plan and the instances
// record decide (package providers/instances: the machine's SSH address and host key, the
// same for every provider; verify reads no provider's own record) and ApplyRoles what the
// node's rendered model (package roles) says must be on it; tests and other callers may
// fill Targets by hand.
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
// # Remote commands
//
// Every command runs through the login shell of the SSH user; those marked root through
// `sudo -n`, so that a password prompt can never hang a check. A node needs:
//
//	sudo        sudo -n true                                         (root)
//	first-boot  cloud-init status --format json  (falls back to --long before 22.3)
//	            cat -- /etc/.ignition-result.json                    (root, Ignition)
//	            journalctl --no-pager -q -o cat -t ignition -p crit  (root, Ignition)
//	install     cat -- STATUS_PATH                                   (root)
//	units       systemctl show -p Id,LoadState,ActiveState,SubState,Result,UnitFileState -- UNIT…
//	            journalctl --no-pager -q -o cat -n 10 -u UNIT        (root, failed units only)
//	ports       ss -Hltn                                             (iproute2)
//	files       sha256sum -- PATH…; stat -c '%a %n' -- PATH…         (root, coreutils)
//	cert-expiry head -v -c 1048576 -- PATH…                           (root, coreutils)
//	hosts       cat -- /etc/hosts
//	etcd        ETCDCTL --endpoints=URL --dial-timeout=T/3 --command-timeout=T/2 (T: --command-timeout)
//	            --cacert=… --cert=… --key=… member list -w json; … endpoint health -w json (root)
//	apiserver   KUBECTL --kubeconfig=… --server=URL --request-timeout=10s get --raw=/readyz?verbose (root)
//	addons      cat -- ADDONS_STATUS_PATH                            (root, first master)
//	registered  KUBECTL --kubeconfig=… --request-timeout=20s get nodes -o json (root, once per run, on a master)
//	            KUBECTL … get pods -n kube-system -l k8s-app=calico-node -o json (with it, when a pod is expected)
//	calico      the calico-node pod's Ready condition from that list;
//	            CalicoExpect.ReadyCmd and BGPCmd as given             (root)
//
// After the sudo check, the first commands of every check that applies run together in
// one session: a shell script that runs each in a subshell and frames its stdout, stderr
// and exit status, so each is judged exactly as if it had run alone. Follow-ups (a failed
// unit's journal, cloud-init's --long fallback) and anything a cut-short batch did not
// finish run in sessions of their own. Nothing is written to the nodes.
package verify
