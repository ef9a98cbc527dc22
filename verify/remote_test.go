package verify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/verify/sshdtest"
)

// remoteTarget starts a real sshd whose sessions find a sudo stand-in first on PATH (it
// runs its command as the test's user) and returns a target pinned to its host key.
func remoteTarget(t *testing.T) Target {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte("#!/bin/sh\n[ \"$1\" = -n ] && shift\nexec \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	signer := sshdtest.NewSigner(t)
	srv := sshdtest.Start(t, sshdtest.Config{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()},
		Env: map[string]string{"PATH": bin + ":/usr/local/bin:/usr/bin:/bin"}})
	return Target{Host: "node1", Addr: srv.Addr, User: srv.User, Signer: signer, HostKey: srv.HostKey}
}

func connect(t *testing.T, tg Target) *Remote {
	t.Helper()
	r, err := Connect(context.Background(), tg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestRemoteStreamsInputAndOutput runs commands through a real sshd: input reaches the
// command, its output and exit status come back, and each line is delivered while the
// command still runs (the command waits for an answer to its first line, which the test
// sends only once it has seen that line).
func TestRemoteStreamsInputAndOutput(t *testing.T) {
	r := connect(t, remoteTarget(t))
	var out, errOut bytes.Buffer
	code, err := r.Stream(context.Background(), true, strings.NewReader("hello\n"), &out, &errOut, time.Second,
		"sh", "-c", "cat; echo to-stderr >&2; exit 3")
	if err != nil || code != 3 || out.String() != "hello\n" || errOut.String() != "to-stderr\n" {
		t.Errorf("code %d, err %v, stdout %q, stderr %q; want 3, nil, hello, to-stderr", code, err, out.String(), errOut.String())
	}

	in, answer := io.Pipe()
	seen := &lineWatcher{line: "first", then: func() { answer.Write([]byte("go\n")); answer.Close() }}
	code, err = r.Stream(context.Background(), false, in, seen, io.Discard, time.Second, "sh", "-c", "echo first; read x; echo second $x")
	if err != nil || code != 0 || seen.String() != "first\nsecond go\n" {
		t.Errorf("code %d, err %v, output %q: want the first line streamed before the command ends", code, err, seen.String())
	}
}

// lineWatcher records output and calls then once a line equal to line has arrived.
type lineWatcher struct {
	mu   sync.Mutex
	b    bytes.Buffer
	line string
	then func()
	once sync.Once
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.b.Write(p)
	seen := strings.Contains(w.b.String(), w.line+"\n")
	w.mu.Unlock()
	if seen {
		w.once.Do(w.then)
	}
	return len(p), nil
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestRemoteStreamClosesInputWhenCancelled proves the stop signal a root command gets
// when the caller gives up: its standard input ends (sshd cannot signal root's
// processes), it has its grace to finish, and what it printed then still arrives.
func TestRemoteStreamClosesInputWhenCancelled(t *testing.T) {
	r := connect(t, remoteTarget(t))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var out bytes.Buffer
	code, err := r.Stream(ctx, true, nil, &out, io.Discard, 10*time.Second, "sh", "-c", "echo started; cat >/dev/null; echo input ended")
	if err != nil || code != 0 || out.String() != "started\ninput ended\n" {
		t.Errorf("code %d, err %v, output %q: want the command to see its input end and exit", code, err, out.String())
	}

	// A command that ignores its input gets its grace, then the connection goes.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	r2 := connect(t, remoteTarget(t))
	t0 := time.Now()
	_, err = r2.Stream(ctx, false, nil, io.Discard, io.Discard, 500*time.Millisecond, "sleep", "30")
	if err == nil || !errors.Is(err, context.Canceled) || time.Since(t0) > 10*time.Second {
		t.Errorf("err %v after %s: want a cancellation error once the grace is over", err, time.Since(t0))
	}
}

// TestRemoteRunReportsFailures: Run returns the output, and a non-zero exit is an error
// naming the command, its status and what it printed.
func TestRemoteRunReportsFailures(t *testing.T) {
	r := connect(t, remoteTarget(t))
	out, err := r.Run(context.Background(), true, "echo", "it's root's")
	if err != nil || string(out) != "it's root's\n" {
		t.Errorf("Run = %q, %v", out, err)
	}
	_, err = r.Run(context.Background(), false, "sh", "-c", "echo broken >&2; exit 4")
	if !errors.Is(err, ErrRemoteCommand) || !strings.Contains(err.Error(), "exited 4") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("err = %v: want ErrRemoteCommand with the status and the output", err)
	}
	_, err = r.Run(context.Background(), false, "no-such-command-kisgen")
	if !errors.Is(err, ErrCommandNotFound) {
		t.Errorf("err = %v: want ErrCommandNotFound", err)
	}
}

// TestConnectChecksTheHostKey: a Remote is verify's connection, host key pinned.
func TestConnectChecksTheHostKey(t *testing.T) {
	tg := remoteTarget(t)
	_, other := sshdtest.NewHostKey(t)
	tg.HostKey = other
	if _, err := Connect(context.Background(), tg, Options{}); !errors.Is(err, ErrHostKeyMismatch) {
		t.Errorf("err = %v: want ErrHostKeyMismatch", err)
	}
}
