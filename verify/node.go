package verify

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/kisgen/kisgen/roles"
)

// node is one logged-in node while its checks run.
type node struct {
	t       *Target
	c       *conn
	o       *Options
	cluster *cluster

	// sudoErr is why sudo was refused; checks needing root are then skipped.
	sudoErr error
	// lost is set when the connection broke; later checks are skipped.
	lost error
	// status is the install status file, once the install check has read it.
	status *roles.Status
	// cache holds prefetched outputs by command line, each used once.
	cache map[string]output
	// sessions counts the SSH sessions opened (for tests).
	sessions int
	// facts are what checks found for the cluster checks (fact).
	facts map[string]string
}

// fact records something a check found that the cluster checks compare across nodes.
func (n *node) fact(key, value string) {
	if n.facts == nil {
		n.facts = map[string]string{}
	}
	n.facts[key] = value
}

// fault is an error whose message is written for people and that errors.Is still matches
// to one of the package's faults.
type fault struct {
	kind error
	msg  string
}

func (f *fault) Error() string { return f.msg }
func (f *fault) Unwrap() error { return f.kind }

// exec runs argv on the node, through `sudo -n` when root is set, and classifies the
// faults no check can interpret: the command missing (exit 127), sudo refusing, a
// timeout, the connection breaking. Any other exit status is returned in output.
func (n *node) exec(ctx context.Context, root bool, argv ...string) (output, error) {
	line := commandLine(root, argv)
	if out, ok := n.cache[line]; ok {
		delete(n.cache, line)
		return out, commandFault(n.t.User, argv, root, out)
	}
	if n.c.broken {
		// A command that could not be stopped took the last connection with it.
		c, _, err := dial(ctx, n.t, n.o)
		if err != nil {
			n.lost = fmt.Errorf("%w: reconnecting after a command that could not be stopped: %w", ErrConnectionLost, err)
			return output{}, n.lost
		}
		n.c.close()
		n.c = c
	}
	n.sessions++
	out, err := n.c.run(ctx, line, n.o.CommandTimeout)
	if err != nil {
		if errors.Is(err, ErrConnectionLost) {
			n.lost = err
		}
		return out, fmt.Errorf("`%s`: %w", shellJoin(argv), err)
	}
	if err := commandFault(n.t.User, argv, root, out); err != nil {
		return out, err
	}
	return out, nil
}

var sudoNotFound = regexp.MustCompile(`^sudo: (.+): command not found$`)

// commandFault recognises a missing command and a sudo refusal from what the shell and
// sudo print.
func commandFault(user string, argv []string, root bool, out output) error {
	first := firstLine(string(out.Stderr))
	if root && out.Exit != 0 && (strings.HasPrefix(first, "sudo: ") || sudoDenied(first)) {
		if m := sudoNotFound.FindStringSubmatch(first); m != nil {
			return &fault{ErrCommandNotFound, fmt.Sprintf("command %s not found on the node (%s)", m[1], first)}
		}
		return &fault{ErrSudoRefused, fmt.Sprintf("sudo refused: %s may not run `%s` as root without a password (%s); kisgen's user-data gives it passwordless sudo: was it changed?", user, shellJoin(argv), first)}
	}
	if out.Exit == 127 {
		name := missingCommand(string(out.Stderr))
		if name == "" && len(argv) > 0 {
			name = argv[0]
		}
		return &fault{ErrCommandNotFound, fmt.Sprintf("command %s not found on the node (exit 127: %s)", name, first)}
	}
	return nil
}

// sudoDenied recognises sudo's refusals that do not start with "sudo: " ("USER is not in
// the sudoers file.", "Sorry, user USER may not run sudo on HOST.").
func sudoDenied(line string) bool {
	return strings.Contains(line, "is not in the sudoers file") || strings.Contains(line, "may not run sudo")
}

// missingCommand finds the command name in a shell's "not found" message: bash's
// "bash: line 1: etcdctl: command not found", dash's "sh: 1: etcdctl: not found",
// zsh's "zsh:1: command not found: etcdctl".
func missingCommand(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		l = strings.TrimSpace(l)
		if i := strings.Index(l, "command not found: "); i >= 0 {
			return strings.TrimSpace(l[i+len("command not found: "):])
		}
		for _, suffix := range []string{": command not found", ": not found", ": No such file or directory"} {
			if rest, ok := strings.CutSuffix(l, suffix); ok {
				if i := strings.LastIndex(rest, ": "); i >= 0 {
					rest = rest[i+2:]
				}
				return rest
			}
		}
	}
	return ""
}

// shellJoin quotes argv for the remote shell.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@%_+=:,./-]+$`)

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// lastLines returns at most n trailing non-empty lines of s.
func lastLines(s string, n int) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// commandFailed describes a command that exited non-zero: its exit status and the last
// lines it printed.
func commandFailed(argv []string, out output) string {
	msg := fmt.Sprintf("`%s` exited %d", shellJoin(argv), out.Exit)
	text := strings.TrimSpace(string(out.Stderr))
	if text == "" {
		text = strings.TrimSpace(string(out.Stdout))
	}
	if l := lastLines(text, 5); len(l) > 0 {
		msg += ": " + strings.Join(l, "\n  ")
	}
	return msg
}
