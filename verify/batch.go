package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// probe is one command a check runs first, whatever it finds.
type probe struct {
	root bool
	argv []string
}

// commandLine is what the node's shell runs for argv: through `sudo -n` when root.
func commandLine(root bool, argv []string) string {
	if root {
		return "sudo -n " + shellJoin(argv)
	}
	return shellJoin(argv)
}

// prefetch runs the first command of every check that applies, in one session, and keeps
// each command's output for exec: a healthy node then costs one login, the sudo check and
// this session, instead of a session per command (which counts over a slow link). Each
// command still runs on its own, with its own stdout, stderr and exit status, and exec
// classifies it exactly as if it had run alone. Whatever the batch did not finish (a
// timeout, a broken connection) runs again on its own.
func (n *node) prefetch(ctx context.Context) {
	var lines []string
	seen := map[string]bool{}
	for _, p := range phases {
		if p.probes == nil || p.skip(n.t) != "" || (p.root && n.sudoErr != nil) {
			continue
		}
		for _, pr := range p.probes(n.t, n.o) {
			if pr.root && n.sudoErr != nil {
				continue
			}
			if l := commandLine(pr.root, pr.argv); !seen[l] {
				seen[l] = true
				lines = append(lines, l)
			}
		}
	}
	if len(lines) < 2 {
		return
	}
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	tag := hex.EncodeToString(nonce)
	n.sessions++
	out, err := n.c.run(ctx, batchScript(tag, lines), n.o.CommandTimeout)
	if err != nil && out.Stdout == nil {
		return // the checks run their commands one by one
	}
	n.cache = parseBatch(tag, lines, out)
}

// batchScript runs each line in turn, in a subshell (a line cannot end the batch), and
// frames what it prints on both streams:
// "\036TAG s I\n" before, "\n\036TAG e I RC\n" after on stdout and "\n\036TAG e I\n" after
// on stderr. The newline before each end marker is the script's, so output that lacks a
// final newline is kept exactly.
func batchScript(tag string, lines []string) string {
	var b strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&b, "printf '\\036%s s %d\\n'; printf '\\036%s s %d\\n' >&2\n", tag, i, tag, i)
		fmt.Fprintf(&b, "(%s)\n", l)
		fmt.Fprintf(&b, "printf '\\n\\036%s e %d %%d\\n' $?; printf '\\n\\036%s e %d\\n' >&2\n", tag, i, tag, i)
	}
	return b.String()
}

// parseBatch splits a batch's output per command; commands whose end marker is missing
// (the batch was cut short) are left out.
func parseBatch(tag string, lines []string, out output) map[string]output {
	cache := map[string]output{}
	for i, l := range lines {
		start := []byte(fmt.Sprintf("\036%s s %d\n", tag, i))
		end := []byte(fmt.Sprintf("\n\036%s e %d ", tag, i))
		stdout, rest, ok := between(out.Stdout, start, end)
		if !ok {
			continue
		}
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			continue
		}
		rc, err := strconv.Atoi(string(rest[:nl]))
		if err != nil {
			continue
		}
		stderr, _, ok := between(out.Stderr, start, []byte(fmt.Sprintf("\n\036%s e %d\n", tag, i)))
		if !ok {
			continue
		}
		cache[l] = output{Stdout: stdout, Stderr: stderr, Exit: rc}
	}
	return cache
}

// between returns what lies between start and end in b, and what follows end.
func between(b, start, end []byte) (inner, rest []byte, ok bool) {
	i := bytes.Index(b, start)
	if i < 0 {
		return nil, nil, false
	}
	b = b[i+len(start):]
	j := bytes.Index(b, end)
	if j < 0 {
		return nil, nil, false
	}
	return b[:j], b[j+len(end):], true
}
