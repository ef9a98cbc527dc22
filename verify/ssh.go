package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// maxOutput bounds what one remote command may return (a node list of a large cluster is
// a few MiB); more is cut off and said so.
const maxOutput = 32 << 20

// dialStage is how far a connection attempt got, to say which check failed.
type dialStage int

const (
	stageNone     dialStage = iota // no TCP connection
	stageTCP                       // TCP connected, no SSH host key seen yet
	stageHostKey                   // host key offered (and judged)
	stageLoggedIn                  // authenticated
)

// dialInfo records what a connection attempt saw, whatever its outcome.
type dialInfo struct {
	stage dialStage
	// offered is the host key the node presented, nil before stageHostKey.
	offered ssh.PublicKey
	// hostKeyErr is why the offered key was rejected.
	hostKeyErr error
	// serverVersion is the node's SSH version string, once logged in.
	serverVersion string
}

// conn is one SSH connection to a node.
type conn struct {
	client *ssh.Client
	addr   string
	stop   func() bool // stops closing the connection when the context ends
	// broken is set when a command could not be stopped and the connection was closed
	// to end it; the node reconnects for its next command.
	broken bool
}

func (c *conn) close() {
	c.stop()
	_ = c.client.Close()
}

// hostKeyAlgorithms restricts negotiation to the pinned key's type, so that a node
// holding several host keys presents the pinned one rather than another of its keys.
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	if k == nil {
		return nil
	}
	if k.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

// describeKey renders a key as "ssh-ed25519 SHA256:…".
func describeKey(k ssh.PublicKey) string {
	if k == nil {
		return "none"
	}
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// dial connects to t.Addr, checks the host key against t.HostKey and logs in. The
// connection is closed when ctx ends. Every error wraps one of the package's faults and
// says what was observed; info says how far the attempt got.
func dial(ctx context.Context, t *Target, o *Options) (*conn, dialInfo, error) {
	var info dialInfo
	if t.Addr == "" || t.User == "" || t.Signer == nil {
		return nil, info, fmt.Errorf("%w: %s: address, user and key are all required", ErrBadTarget, t.Host)
	}
	d := net.Dialer{Timeout: o.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, info, dialError(ctx, t.Addr, o.DialTimeout, err)
	}
	info.stage = stageTCP
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	// The handshake has no timeout of its own: a listener that accepts and never speaks
	// SSH would hang it forever.
	_ = raw.SetDeadline(time.Now().Add(o.DialTimeout))

	var mu sync.Mutex // the callback runs on the handshake's goroutine
	cfg := &ssh.ClientConfig{
		User: t.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(t.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			mu.Lock()
			defer mu.Unlock()
			info.stage = stageHostKey
			info.offered = key
			switch {
			case o.InsecureIgnoreHostKey:
				return nil
			case t.HostKey == nil:
				info.hostKeyErr = fmt.Errorf("%w for %s: the node offers %s; render the plan (kisgen render generates and pins every node's host key) or pass --insecure-ignore-host-key",
					ErrNoHostKey, t.Host, describeKey(key))
			case !bytes.Equal(key.Marshal(), t.HostKey.Marshal()):
				info.hostKeyErr = fmt.Errorf("%w: %s offered %s, the pinned key is %s: the machine at this address is not the node kisgen rendered (or it was re-created without its user-data); connection closed before logging in",
					ErrHostKeyMismatch, t.Addr, describeKey(key), describeKey(t.HostKey))
			}
			return info.hostKeyErr
		},
		Timeout: o.DialTimeout,
	}
	if !o.InsecureIgnoreHostKey {
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(t.HostKey)
	}
	sc, chans, reqs, err := ssh.NewClientConn(raw, t.Addr, cfg)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		stop()
		_ = raw.Close()
		return nil, info, handshakeError(ctx, t, o, &info, err)
	}
	_ = raw.SetDeadline(time.Time{})
	info.stage = stageLoggedIn
	info.serverVersion = string(sc.ServerVersion())
	return &conn{client: ssh.NewClient(sc, chans, reqs), addr: t.Addr, stop: stop}, info, nil
}

// dialError classifies a failed TCP connect.
func dialError(ctx context.Context, addr string, timeout time.Duration, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("connecting to %s: %w", addr, context.Cause(ctx))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w by %s: nothing listens there (node not booted yet, sshd not started, or the wrong port)", ErrConnRefused, addr)
	case isTimeout(err):
		return fmt.Errorf("%w: no answer from %s within %s (machine down, a firewall dropping SSH, or the wrong address)", ErrTimeout, addr, timeout)
	default:
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, addr, err)
	}
}

// handshakeError classifies a failed SSH handshake by how far it got.
func handshakeError(ctx context.Context, t *Target, o *Options, info *dialInfo, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("SSH handshake with %s: %w", t.Addr, context.Cause(ctx))
	}
	if info.hostKeyErr != nil {
		return info.hostKeyErr
	}
	msg := err.Error()
	switch {
	case info.stage < stageHostKey && t.HostKey != nil && strings.Contains(msg, "no common algorithm for host key"):
		return fmt.Errorf("%w: %s has no %s host key (%s); the pinned key is %s",
			ErrHostKeyMismatch, t.Addr, t.HostKey.Type(), strings.TrimPrefix(msg, "ssh: handshake failed: "), describeKey(t.HostKey))
	case info.stage < stageHostKey && isTimeout(err):
		return fmt.Errorf("%w: %s accepted the TCP connection but completed no SSH handshake within %s (not an SSH server, or sshd overloaded)", ErrTimeout, t.Addr, o.DialTimeout)
	case info.stage < stageHostKey:
		return fmt.Errorf("%w: %s closed the connection before the SSH handshake finished (not an SSH server, or sshd refusing connections: MaxStartups): %v", ErrUnreachable, t.Addr, err)
	case strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("%w: %s did not accept user %q with key %s: the key is not in the user's authorized_keys on the node (or the user does not exist)",
			ErrAuthRefused, t.Addr, t.User, ssh.FingerprintSHA256(t.Signer.PublicKey()))
	case isTimeout(err):
		return fmt.Errorf("%w: %s stopped answering while logging in (after %s)", ErrTimeout, t.Addr, o.DialTimeout)
	default:
		return fmt.Errorf("%w: %s: SSH login failed: %v", ErrUnreachable, t.Addr, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// output is what a remote command printed and how it exited.
type output struct {
	Stdout, Stderr []byte
	// Exit is the command's exit status; -1 when it was killed by a signal.
	Exit int
}

// limitedBuffer keeps at most max bytes and remembers that more was written.
type limitedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.truncated = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// run runs one command line in a new session and waits at most timeout for it. A
// non-zero exit is not an error: it is in output.Exit for the check to judge.
func (c *conn) run(ctx context.Context, cmd string, timeout time.Duration) (output, error) {
	s, err := c.client.NewSession()
	if err != nil {
		if ctx.Err() != nil {
			return output{}, context.Cause(ctx)
		}
		return output{}, fmt.Errorf("%w: %s: opening a session: %v", ErrConnectionLost, c.addr, err)
	}
	defer s.Close()
	stdout := &limitedBuffer{max: maxOutput}
	stderr := &limitedBuffer{max: 1 << 20}
	s.Stdout, s.Stderr = stdout, stderr
	if err := s.Start(cmd); err != nil {
		return output{}, fmt.Errorf("%w: %s: starting a command: %v", ErrConnectionLost, c.addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err = <-done:
	case <-timer.C:
		c.abort(s, done)
		// What it printed so far is kept: a batch's finished commands are still good.
		return output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}, fmt.Errorf("%w after %s", ErrCommandTimeout, timeout)
	case <-ctx.Done():
		// The run is over for this node: no need to keep the connection.
		_ = c.client.Close()
		<-done
		return output{}, context.Cause(ctx)
	}
	out := output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if stdout.truncated {
		out.Stderr = append(out.Stderr, fmt.Sprintf("\n(verify: output cut at %d bytes)", maxOutput)...)
	}
	var exitErr *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		out.Exit = exitErr.ExitStatus()
		if exitErr.Signal() != "" {
			out.Exit = -1
			out.Stderr = append(out.Stderr, fmt.Sprintf("\n(killed by SIG%s)", exitErr.Signal())...)
		}
	case errors.As(err, &missing), errors.Is(err, io.EOF):
		return out, fmt.Errorf("%w: %s: the session ended without an exit status", ErrConnectionLost, c.addr)
	default:
		return out, fmt.Errorf("%w: %s: %v", ErrConnectionLost, c.addr, err)
	}
	return out, nil
}

// abortGrace is how long a timed-out command may take to end once signalled.
const abortGrace = 2 * time.Second

// abort stops a command that ran too long: it signals the remote process group (sshd
// honours signals for unprivileged users only) and closes the session; if that does not
// end it (sshd keeps a session open while its process lives), the whole connection is
// closed and marked broken.
func (c *conn) abort(s *ssh.Session, done <-chan error) {
	_ = s.Signal(ssh.SIGKILL)
	_ = s.Close()
	select {
	case <-done:
	case <-time.After(abortGrace):
		c.broken = true
		_ = c.client.Close()
		<-done
	}
}
