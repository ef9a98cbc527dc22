package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/ssh"
)

// Remote is a logged-in SSH connection to one node for work beyond verify's checks: a
// long command whose output is streamed as it comes, with data sent on its standard
// input (kisgen conformance copies the e2e suite to a master and runs it there). The
// node's host key is checked as verify checks it: the pinned key, or none with
// Options.InsecureIgnoreHostKey.
type Remote struct {
	t *Target
	o Options
	c *conn
}

// Connect logs in to t. Options.DialTimeout bounds the connection and the login,
// Options.CommandTimeout each Run.
func Connect(ctx context.Context, t Target, opts Options) (*Remote, error) {
	o := opts.withDefaults()
	c, _, err := dial(ctx, &t, &o)
	if err != nil {
		return nil, err
	}
	return &Remote{t: &t, o: o, c: c}, nil
}

// Host is the node's name in the plan.
func (r *Remote) Host() string { return r.t.Host }

// Close ends the connection.
func (r *Remote) Close() error {
	r.c.close()
	return nil
}

// Run runs argv on the node (as root through `sudo -n` when root) within
// Options.CommandTimeout and returns its standard output. A non-zero exit is an error
// naming the command, its status and the last lines it printed.
func (r *Remote) Run(ctx context.Context, root bool, argv ...string) ([]byte, error) {
	out, err := r.c.run(ctx, commandLine(root, argv), r.o.CommandTimeout)
	if err != nil {
		return out.Stdout, fmt.Errorf("%s: `%s`: %w", r.t.Host, shellJoin(argv), err)
	}
	if err := commandFault(r.t.User, argv, root, out); err != nil {
		return out.Stdout, fmt.Errorf("%s: %w", r.t.Host, err)
	}
	if out.Exit != 0 {
		return out.Stdout, fmt.Errorf("%w: %s: %s", ErrRemoteCommand, r.t.Host, commandFailed(argv, out))
	}
	return out.Stdout, nil
}

// Stream runs argv on the node (through `sudo -n` when root), copying stdin to it and
// its standard output and error to stdout and stderr as they come, and returns its exit
// status (-1 when a signal killed it). There is no time limit: it ends when the command
// exits or ctx ends. When ctx ends, the command's standard input is closed first: sshd
// cannot signal a command that runs as root, so a command that must stop with the
// caller watches its input for the end (as kisgen conformance's remote script does),
// and Stream waits up to grace for it to exit before it closes the connection.
func (r *Remote) Stream(ctx context.Context, root bool, stdin io.Reader, stdout, stderr io.Writer, grace time.Duration, argv ...string) (int, error) {
	s, err := r.c.client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("%w: %s: opening a session: %v", ErrConnectionLost, r.t.Host, err)
	}
	defer s.Close()
	in, err := s.StdinPipe()
	if err != nil {
		return -1, err
	}
	s.Stdout, s.Stderr = stdout, stderr
	line := commandLine(root, argv)
	if err := s.Start(line); err != nil {
		return -1, fmt.Errorf("%w: %s: starting `%s`: %v", ErrConnectionLost, r.t.Host, shellJoin(argv), err)
	}
	copied := make(chan error, 1)
	go func() {
		if stdin == nil {
			// Nothing to send: the input stays open until the command exits or ctx ends.
			copied <- nil
			return
		}
		_, err := io.Copy(in, stdin)
		in.Close()
		copied <- err
	}()
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		in.Close()
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case err = <-done:
		case <-t.C:
			// The command outlived its grace: the connection goes, the node's process
			// may stay (sshd cannot kill root's).
			_ = r.c.client.Close()
			<-done
			return -1, fmt.Errorf("%s: `%s` did not stop within %s of %w", r.t.Host, shellJoin(argv), grace, context.Cause(ctx))
		}
	}
	in.Close()
	// The copy ends with its reader or when the ended session refuses its writes.
	if cerr := <-copied; cerr != nil && err == nil {
		return -1, fmt.Errorf("%s: sending input to `%s`: %w", r.t.Host, shellJoin(argv), cerr)
	}
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		if exitErr.Signal() != "" {
			return -1, nil
		}
		return exitErr.ExitStatus(), nil
	case errors.As(err, &missing), errors.Is(err, io.EOF):
		return -1, fmt.Errorf("%w: %s: `%s` ended without an exit status", ErrConnectionLost, r.t.Host, shellJoin(argv))
	default:
		return -1, fmt.Errorf("%w: %s: %v", ErrConnectionLost, r.t.Host, err)
	}
}

// ShellJoin quotes argv as one command line for a node's POSIX shell.
func ShellJoin(argv ...string) string { return shellJoin(argv) }
