package qemu

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// maxFrame bounds a frame's length: qemu's stream netdev sends Ethernet frames (up to
// 65535 bytes with offloads); anything larger is a broken peer.
const maxFrame = 1 << 16

// Switch is a learning Ethernet switch for qemu's `-netdev stream` (and the older
// `-netdev socket,connect=`) framing: each frame is a 4-byte big-endian length and the
// frame. It forwards a frame to the port that last sent from its destination MAC, and
// floods broadcast, multicast and unknown destinations to every other port.
type Switch struct {
	mu    sync.Mutex
	ports map[*port]bool
	macs  map[[6]byte]*port
	// IdleExit, when > 0, stops Serve after that long with no port connected (once at
	// least one has been), so a switch whose VMs are all gone does not linger.
	IdleExit time.Duration
	// Log receives one line per port connecting or leaving.
	Log    io.Writer
	frames uint64
}

// Frames returns how many frames the switch has forwarded.
func (s *Switch) Frames() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames
}

type port struct {
	conn net.Conn
	// out is written by the forwarding goroutines; writes are serialised by mu.
	mu sync.Mutex
	w  *bufio.Writer
}

// NewSwitch returns an empty switch.
func NewSwitch() *Switch {
	return &Switch{ports: map[*port]bool{}, macs: map[[6]byte]*port{}, Log: io.Discard}
}

// Serve accepts ports on ln until ctx ends (or IdleExit passes with no port).
func (s *Switch) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	go func() { <-ctx.Done(); ln.Close() }()
	idle := make(chan struct{}, 1)
	if s.IdleExit > 0 {
		go s.watchIdle(ctx, cancel, idle)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.closeAll()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.closeAll()
			return err
		}
		p := &port{conn: c, w: bufio.NewWriterSize(c, 64<<10)}
		s.mu.Lock()
		s.ports[p] = true
		n := len(s.ports)
		s.mu.Unlock()
		fmt.Fprintf(s.Log, "%s port connected (%d ports)\n", time.Now().UTC().Format(time.RFC3339), n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(p)
			select {
			case idle <- struct{}{}:
			default:
			}
		}()
	}
}

func (s *Switch) watchIdle(ctx context.Context, cancel context.CancelFunc, idle <-chan struct{}) {
	t := time.NewTicker(s.IdleExit / 4)
	defer t.Stop()
	var since time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle:
		case <-t.C:
		}
		s.mu.Lock()
		n := len(s.ports)
		s.mu.Unlock()
		switch {
		case n > 0:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= s.IdleExit:
			fmt.Fprintf(s.Log, "%s no port for %s: exiting\n", time.Now().UTC().Format(time.RFC3339), s.IdleExit)
			cancel()
			return
		}
	}
}

func (s *Switch) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range s.ports {
		p.conn.Close()
	}
}

func (s *Switch) handle(src *port) {
	defer func() {
		src.conn.Close()
		s.mu.Lock()
		delete(s.ports, src)
		for mac, p := range s.macs {
			if p == src {
				delete(s.macs, mac)
			}
		}
		n := len(s.ports)
		s.mu.Unlock()
		fmt.Fprintf(s.Log, "%s port left (%d ports)\n", time.Now().UTC().Format(time.RFC3339), n)
	}()
	r := bufio.NewReaderSize(src.conn, 64<<10)
	buf := make([]byte, 4+maxFrame)
	for {
		if _, err := io.ReadFull(r, buf[:4]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(buf[:4])
		if n > maxFrame {
			return
		}
		frame := buf[4 : 4+n]
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		if n < 14 {
			continue // not an Ethernet frame
		}
		var dst, from [6]byte
		copy(dst[:], frame[0:6])
		copy(from[:], frame[6:12])
		s.mu.Lock()
		if from[0]&1 == 0 {
			s.macs[from] = src
		}
		var targets []*port
		if to, ok := s.macs[dst]; ok && dst[0]&1 == 0 {
			if to != src {
				targets = []*port{to}
			}
		} else {
			for p := range s.ports {
				if p != src {
					targets = append(targets, p)
				}
			}
		}
		s.frames++
		s.mu.Unlock()
		for _, p := range targets {
			p.send(buf[:4+n])
		}
	}
}

// send writes one framed packet; a slow or dead peer only loses its own frames.
func (p *port) send(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := p.w.Write(b); err != nil {
		p.conn.Close()
		return
	}
	if err := p.w.Flush(); err != nil {
		p.conn.Close()
	}
}
