package verify

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// The first three checks are the stages of one SSH connection; they are reported
// separately so that a node says which stage failed.
var (
	checkReachable = CheckInfo{"reachable", "sshd answers at the node's SSH address"}
	checkHostKey   = CheckInfo{"host-key", "Host key is the one pinned in the node's user-data"}
	checkLogin     = CheckInfo{"login", "The plan's SSH user logs in with the plan's key"}
)

// connectResults turns a connection attempt into the reachable, host-key and login
// results.
func connectResults(t *Target, o *Options, info dialInfo, err error, took time.Duration) []CheckResult {
	r := []CheckResult{
		{Name: checkReachable.Name, Title: checkReachable.Title},
		{Name: checkHostKey.Name, Title: checkHostKey.Title},
		{Name: checkLogin.Name, Title: checkLogin.Title},
	}
	r[0].Millis = took.Milliseconds()
	// Which result carries the error is decided by how far the attempt got.
	at := 0
	switch {
	case err == nil:
		at = -1
	case errors.Is(err, ErrHostKeyMismatch), errors.Is(err, ErrNoHostKey):
		at = 1
	case info.stage >= stageHostKey:
		at = 2
	}
	for i := range r {
		switch {
		case at >= 0 && i == at:
			r[i].Status, r[i].Detail, r[i].Reason = Fail, err.Error(), Reason(err)
		case at >= 0 && i > at:
			r[i].Status, r[i].Detail = Skip, fmt.Sprintf("not run: %s failed", r[at].Name)
		default:
			r[i].Status = Pass
		}
	}
	if at != 0 {
		r[0].Detail = fmt.Sprintf("SSH at %s", t.Addr)
		if info.serverVersion != "" {
			r[0].Detail += " (" + info.serverVersion + ")"
		}
	}
	if at < 0 || at > 1 {
		if o.InsecureIgnoreHostKey {
			r[1].Status = Skip
			r[1].Detail = "NOT CHECKED (--insecure-ignore-host-key): the node offered " + describeKey(info.offered)
			if t.HostKey != nil && info.offered != nil && string(t.HostKey.Marshal()) != string(info.offered.Marshal()) {
				r[1].Status = Fail
				r[1].Detail += fmt.Sprintf(", which is NOT the pinned key %s", describeKey(t.HostKey))
				r[1].Reason = Reason(ErrHostKeyMismatch)
			}
		} else {
			r[1].Detail = describeKey(info.offered)
		}
	}
	if at < 0 {
		r[2].Detail = fmt.Sprintf("as %s with key %s", t.User, ssh.FingerprintSHA256(t.Signer.PublicKey()))
	}
	return r
}
