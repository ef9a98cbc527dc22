package qemu

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// frame builds an Ethernet frame from src to dst with a payload byte.
func frame(dst, src [6]byte, payload byte) []byte {
	f := make([]byte, 60)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	f[12], f[13] = 0x08, 0x00
	f[14] = payload
	return f
}

func send(t *testing.T, c net.Conn, f []byte) {
	t.Helper()
	b := make([]byte, 4+len(f))
	binary.BigEndian.PutUint32(b, uint32(len(f)))
	copy(b[4:], f)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// recv returns the payload byte of the next frame, or -1 when none arrives in time.
func recv(c net.Conn, wait time.Duration) int {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return -1
	}
	f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, f); err != nil {
		return -1
	}
	return int(f[14])
}

func TestSwitchFloodsUnknownAndLearnsUnicast(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sw := NewSwitch()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = sw.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	var conns [3]net.Conn
	for i := range conns {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	// wait until all three ports are registered
	for deadline := time.Now().Add(5 * time.Second); ; {
		sw.mu.Lock()
		n := len(sw.ports)
		sw.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("switch has %d ports, want 3", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mac := func(i byte) [6]byte { return [6]byte{0x52, 0x54, 0, 0, 0, i} }
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

	// broadcast from 0 reaches 1 and 2, not 0 itself
	send(t, conns[0], frame(bcast, mac(0), 1))
	if got := recv(conns[1], 2*time.Second); got != 1 {
		t.Fatalf("port 1 got %d, want broadcast 1", got)
	}
	if got := recv(conns[2], 2*time.Second); got != 1 {
		t.Fatalf("port 2 got %d, want broadcast 1", got)
	}
	if got := recv(conns[0], 200*time.Millisecond); got != -1 {
		t.Fatalf("sender got its own frame %d", got)
	}
	// 2 answers 0 by unicast: 0 was learnt, so only 0 receives it
	send(t, conns[2], frame(mac(0), mac(2), 2))
	if got := recv(conns[0], 2*time.Second); got != 2 {
		t.Fatalf("port 0 got %d, want unicast 2", got)
	}
	if got := recv(conns[1], 200*time.Millisecond); got != -1 {
		t.Fatalf("port 1 saw unicast meant for port 0: %d", got)
	}
	// unknown unicast destination is flooded
	send(t, conns[0], frame(mac(9), mac(0), 3))
	for _, i := range []int{1, 2} {
		if got := recv(conns[i], 2*time.Second); got != 3 {
			t.Fatalf("port %d got %d, want flooded 3", i, got)
		}
	}
	// a port that leaves is forgotten: frames to its MAC are flooded again
	conns[2].Close()
	time.Sleep(100 * time.Millisecond)
	send(t, conns[0], frame(mac(2), mac(0), 4))
	if got := recv(conns[1], 2*time.Second); got != 4 {
		t.Fatalf("port 1 got %d, want 4 flooded after port 2 left", got)
	}
	if sw.Frames() != 4 {
		t.Errorf("forwarded %d frames, want 4", sw.Frames())
	}
}

func TestSwitchDropsOversizedFrameAndClosesPort(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sw := NewSwitch()
	done := make(chan struct{})
	go func() { _ = sw.Serve(ctx, ln); close(done) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], maxFrame+1)
	if _, err := c.Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the switch kept a port that announced an oversized frame")
	}
}

func TestSwitchIdleExit(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	sw := NewSwitch()
	sw.IdleExit = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- sw.Serve(context.Background(), ln) }()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("switch exited while a port was connected")
	default:
	}
	c.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("switch did not exit after its ports left")
	}
}
