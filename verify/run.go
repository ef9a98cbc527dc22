package verify

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Options tune a run. The zero value is usable.
type Options struct {
	// Concurrency is how many nodes are checked at once; 0 means 32.
	Concurrency int
	// DialTimeout bounds the TCP connect and, separately, the SSH handshake and login;
	// 0 means 10s.
	DialTimeout time.Duration
	// CommandTimeout bounds each remote command; 0 means 30s.
	CommandTimeout time.Duration
	// InsecureIgnoreHostKey accepts whatever host key a node presents. See
	// InsecureHostKeyWarning for what that risks.
	InsecureIgnoreHostKey bool
	// Now is the clock for certificate expiry; nil means time.Now.
	Now func() time.Time
	// OnNode, when set, is called as each node's checks finish (one call at a time).
	OnNode func(round int, r NodeResult)
}

// InsecureHostKeyWarning says what --insecure-ignore-host-key risks.
const InsecureHostKeyWarning = `host keys are NOT checked (--insecure-ignore-host-key): whoever can intercept
traffic to a node's address (same network, ARP or DNS spoofing, a reused IP) can pose as
the node, see every command verify runs there and answer them, so a broken or foreign
machine can look healthy. Your private key is not exposed (public-key login does not send
it) and nothing is written to the nodes. Use it only to diagnose a node whose pinned host
key is missing or lost.`

// defaultCommandTimeout bounds a remote command when Options.CommandTimeout is 0.
const defaultCommandTimeout = 30 * time.Second

func (o Options) withDefaults() Options {
	if o.Concurrency < 1 {
		o.Concurrency = 32
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = defaultCommandTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Run checks every target once, at most Concurrency at a time, and reports per node and
// per check. One node's failure never stops the others. Cancelling ctx stops the run:
// nodes in progress report the cancellation and nodes not yet started are not checked.
func Run(ctx context.Context, targets []Target, opts Options) *Report {
	o := opts.withDefaults()
	return runRound(ctx, targets, &o, 1)
}

func runRound(ctx context.Context, targets []Target, o *Options, round int) *Report {
	start := time.Now()
	rep := &Report{Nodes: make([]NodeResult, len(targets)), Rounds: round, Started: start}
	cl := newCluster(targets, o)
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	var cbMu sync.Mutex
	for i := range targets {
		t := &targets[i]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			rep.Nodes[i] = notChecked(t, context.Cause(ctx))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rep.Nodes[i] = checkNode(ctx, t, o, cl)
			if o.OnNode != nil {
				cbMu.Lock()
				o.OnNode(round, rep.Nodes[i])
				cbMu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.Cluster = clusterChecks(targets, rep.Nodes)
	rep.OK = rep.ok()
	rep.Elapsed = time.Since(start)
	return rep
}

// notChecked is the result of a node the run never reached.
func notChecked(t *Target, cause error) NodeResult {
	return NodeResult{Host: t.Host, Addr: t.Addr, interrupted: true, Checks: []CheckResult{{
		Name: checkReachable.Name, Title: checkReachable.Title, Status: Fail,
		Detail: fmt.Sprintf("not checked: %v", cause),
	}}}
}

// check is one named phase run on every node it applies to.
type check struct {
	Name, Title string
	// root marks checks that run commands through sudo: they are skipped when sudo is
	// refused (the sudo check says so once).
	root bool
	// skip returns why the check does not apply to t, or "".
	skip func(t *Target) string
	// run performs the check; the runner fills in name, title and timing.
	run func(ctx context.Context, n *node) CheckResult
	// probes, when set, are the commands run calls first for t, whatever it finds: the
	// node runs them all in one session before the checks (see node.prefetch).
	probes func(t *Target, o *Options) []probe
}

// phases are the checks after login, in the order they run.
var phases = []*check{
	checkSudo, checkFirstBoot, checkInstall, checkPreflight, checkUnits, checkPorts,
	checkFiles, checkCerts, checkHosts, checkEtcd, checkAPIServer, checkControlPlane, checkAddOns, checkRegistered, checkCalico,
	checkServices, checkVirtualIP,
}

// CheckInfo names a check and says what it proves.
type CheckInfo struct{ Name, Title string }

// Checks lists every check in the order it runs on a node.
func Checks() []CheckInfo {
	out := []CheckInfo{{checkReachable.Name, checkReachable.Title}, {checkHostKey.Name, checkHostKey.Title}, {checkLogin.Name, checkLogin.Title}}
	for _, c := range phases {
		out = append(out, CheckInfo{c.Name, c.Title})
	}
	return out
}

// checkNode runs every check on one node over one connection.
func checkNode(ctx context.Context, t *Target, o *Options, cl *cluster) NodeResult {
	start := time.Now()
	res := NodeResult{Host: t.Host, Addr: t.Addr}
	c, info, err := dial(ctx, t, o)
	res.Checks = connectResults(t, o, info, err, time.Since(start))
	if err != nil {
		for _, p := range phases {
			res.Checks = append(res.Checks, CheckResult{Name: p.Name, Title: p.Title, Status: Skip, Detail: "not run: cannot log in (see above)"})
		}
		return finish(ctx, res, start)
	}
	n := &node{t: t, c: c, o: o, cluster: cl}
	defer func() { n.c.close() }()
	for _, p := range phases {
		res.Checks = append(res.Checks, n.runCheck(ctx, p))
		if p == checkSudo && n.lost == nil && ctx.Err() == nil {
			n.prefetch(ctx)
		}
	}
	res.sessions, res.facts = n.sessions, n.facts
	return finish(ctx, res, start)
}

func finish(ctx context.Context, res NodeResult, start time.Time) NodeResult {
	res.OK = res.FirstFailure() == nil
	res.Millis = time.Since(start).Milliseconds()
	res.interrupted = ctx.Err() != nil
	return res
}

// runCheck runs one phase unless it does not apply or an earlier failure prevents it.
func (n *node) runCheck(ctx context.Context, p *check) CheckResult {
	start := time.Now()
	r := func() CheckResult {
		if why := p.skip(n.t); why != "" {
			return skipped("%s", why)
		}
		if n.lost != nil {
			return skipped("not run: %s", firstLine(n.lost.Error()))
		}
		if ctx.Err() != nil {
			return failed(fmt.Errorf("not run: %w", context.Cause(ctx)))
		}
		if p.root && n.sudoErr != nil {
			return skipped("not run: needs root and sudo was refused (see sudo)")
		}
		return p.run(ctx, n)
	}()
	r.Name, r.Title = p.Name, p.Title
	r.Millis = time.Since(start).Milliseconds()
	return r
}

func passed(format string, a ...any) CheckResult {
	return CheckResult{Status: Pass, Detail: fmt.Sprintf(format, a...)}
}

func failedf(format string, a ...any) CheckResult {
	return CheckResult{Status: Fail, Detail: fmt.Sprintf(format, a...)}
}

// failed reports an error; SSH-level faults carry their Reason code.
func failed(err error) CheckResult {
	return CheckResult{Status: Fail, Detail: err.Error(), Reason: Reason(err)}
}

func skipped(format string, a ...any) CheckResult {
	return CheckResult{Status: Skip, Detail: fmt.Sprintf(format, a...)}
}

// always applies a check to every node.
func always(*Target) string { return "" }
