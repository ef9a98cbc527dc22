package qemu

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// HelperArg is the hidden kisgen subcommand that runs the provider's helper processes:
//
//	kisgen __qemu-helper switch SOCKET PIDFILE   the VMs' Ethernet switch (detached)
//	kisgen __qemu-helper connect HOST:PORT       qemu guestfwd: relay stdin/stdout to HOST:PORT
const HelperArg = "__qemu-helper"

// HelperCommand returns the command that runs the helper (HelperArg and its arguments
// follow). It is the running kisgen executable; tests replace it.
var HelperCommand = func() ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return []string{exe, HelperArg}, nil
}

// switchIdleExit is how long a detached switch lingers with no VM connected.
const switchIdleExit = 10 * time.Minute

// HelperMain runs a helper; args are what follows HelperArg. It returns the exit code.
func HelperMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprintln(stderr, "usage: kisgen __qemu-helper switch SOCKET PIDFILE | connect HOST:PORT")
		return 2
	}
	switch args[0] {
	case "switch":
		if len(args) != 3 {
			fmt.Fprintln(stderr, "usage: kisgen __qemu-helper switch SOCKET PIDFILE")
			return 2
		}
		if err := runSwitch(args[1], args[2], stderr); err != nil {
			fmt.Fprintln(stderr, "switch:", err)
			return 1
		}
		return 0
	case "connect":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: kisgen __qemu-helper connect HOST:PORT")
			return 2
		}
		if err := relay(args[1], stdin, stdout); err != nil {
			fmt.Fprintln(stderr, "connect:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "unknown helper %q\n", args[0])
	return 2
}

func runSwitch(sock, pidfile string, log io.Writer) error {
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	if err := os.WriteFile(pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(pidfile)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sw := NewSwitch()
	sw.Log = log
	sw.IdleExit = switchIdleExit
	fmt.Fprintf(log, "%s switch listening on %s (pid %d)\n", time.Now().UTC().Format(time.RFC3339), sock, os.Getpid())
	err = sw.Serve(ctx, ln)
	fmt.Fprintf(log, "%s switch stopped after %d frames\n", time.Now().UTC().Format(time.RFC3339), sw.Frames())
	return err
}

// relay copies between stdio (the guest's connection, as qemu hands it to a guestfwd
// command) and a TCP connection to addr, which must be on loopback.
func relay(addr string, stdin io.Reader, stdout io.Writer) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address: the helper only forwards to this machine", addr)
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, stdin)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, err = io.Copy(stdout, c)
	// The guest side may never send EOF; once the server is done, so are we.
	return err
}

// startSwitch starts a detached switch on sock unless one is running (pidfile alive).
func startSwitch(sock, pidfile, logfile string) (pid int, started bool, err error) {
	if pid := alivePID(pidfile, HelperArg); pid > 0 {
		if _, err := os.Stat(sock); err == nil {
			return pid, false, nil
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	cmdline, err := HelperCommand()
	if err != nil {
		return 0, false, err
	}
	logf, err := os.OpenFile(logfile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, false, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, false, err
	}
	defer devnull.Close()
	_ = os.Remove(sock)
	args := append(append([]string{}, cmdline[1:]...), "switch", sock, pidfile)
	cmd := exec.Command(cmdline[0], args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.Dir = filepath.Dir(sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, false, err
	}
	pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logfile)
			return 0, false, fmt.Errorf("switch exited: %v\n%s", err, tail(log, 1024))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return 0, false, fmt.Errorf("switch did not listen on %s within 10s", sock)
		}
	}
	// The helper runs on after kisgen exits; Wait in the goroutine above reaps it if
	// it stops while we are still running.
	return pid, true, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
