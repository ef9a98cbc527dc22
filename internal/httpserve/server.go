package httpserve

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what clients can hold of a server. Zero fields take the defaults.
type Limits struct {
	// ReadHeader is how long a client has to send its request headers (default 10 s).
	ReadHeader time.Duration
	// Idle is how long a keep-alive connection may wait for its next request (default 30 s).
	Idle time.Duration
	// Stall is how long one write of a response may block, the client not reading
	// (default 60 s). Each write that goes through starts the clock again, so a slow but
	// steady download of any size completes.
	Stall time.Duration
	// MaxConns caps the open connections (default 256). Beyond it new connections wait
	// in the listen backlog, and idle keep-alive connections are closed to make room.
	MaxConns int
}

// Default limits.
const (
	DefaultReadHeader = 10 * time.Second
	DefaultIdle       = 30 * time.Second
	DefaultStall      = 60 * time.Second
	DefaultMaxConns   = 256
)

func (l Limits) withDefaults() Limits {
	if l.ReadHeader <= 0 {
		l.ReadHeader = DefaultReadHeader
	}
	if l.Idle <= 0 {
		l.Idle = DefaultIdle
	}
	if l.Stall <= 0 {
		l.Stall = DefaultStall
	}
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// Server is an http.Server with Limits. Use its Serve, which caps the connections.
type Server struct {
	http.Server
	conns *limiter
}

// New returns a server for h under lim.
func New(h http.Handler, lim Limits) *Server {
	lim = lim.withDefaults()
	s := &Server{conns: newLimiter(lim.MaxConns)}
	s.Server = http.Server{
		Handler:           stallGuard(h, lim.Stall),
		ReadHeaderTimeout: lim.ReadHeader,
		// The server only answers GET and HEAD: no body takes longer than the headers.
		ReadTimeout: 2 * lim.ReadHeader,
		// Until the handler's first write; each write then sets its own deadline.
		WriteTimeout: lim.ReadHeader + lim.Stall,
		IdleTimeout:  lim.Idle,
		ConnState:    s.conns.state,
	}
	return s
}

// Serve accepts connections on ln, at most MaxConns at a time, until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(s.conns.wrap(ln))
}

// stallGuard moves the connection's write deadline Stall ahead of each write, so the
// deadline measures a write that blocks, not the whole response.
func stallGuard(h http.Handler, stall time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}, r)
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.stall)) // not every writer supports it (tests' recorders)
	return d.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection beneath.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// limiter caps a listener's open connections. The http.Server reports each connection's
// state to it, so that when every slot is taken it can close the idle ones: a keep-alive
// connection waiting for a request that may never come must not keep a node waiting to
// download.
type limiter struct {
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	idle  map[net.Conn]struct{}
}

func newLimiter(n int) *limiter {
	return &limiter{slots: make(chan struct{}, n), done: make(chan struct{}), idle: map[net.Conn]struct{}{}}
}

func (l *limiter) wrap(ln net.Listener) net.Listener { return &limitedListener{Listener: ln, l: l} }

func (l *limiter) full() bool { return len(l.slots) == cap(l.slots) }

// state is the http.Server's ConnState hook.
func (l *limiter) state(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s != http.StateIdle {
		delete(l.idle, c)
		return
	}
	if l.full() {
		_ = c.Close() // someone may be waiting for this slot
		return
	}
	l.idle[c] = struct{}{}
}

func (l *limiter) closeIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.idle {
		_ = c.Close()
		delete(l.idle, c)
	}
}

type limitedListener struct {
	net.Listener
	l *limiter
}

func (ln *limitedListener) Accept() (net.Conn, error) {
	l := ln.l
	select {
	case l.slots <- struct{}{}:
	default:
		l.closeIdle()
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := ln.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (ln *limitedListener) Close() error {
	ln.l.once.Do(func() { close(ln.l.done) })
	return ln.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
