// Package httpservetest checks a real server on loopback against httpserve's limits:
// every kisgen file server runs the same checks.
package httpservetest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/httpserve"
)

// Limits are short enough for tests: a check waits a few times these at most.
var Limits = httpserve.Limits{ReadHeader: time.Second, Idle: 300 * time.Millisecond, Stall: 300 * time.Millisecond, MaxConns: 3}

// BigSize is the size of the file CheckLimits downloads without reading: far more than
// loopback's socket buffers hold, so the server's writes block.
const BigSize = 64 << 20

// WriteBig writes a sparse file of BigSize bytes at path.
func WriteBig(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(BigSize); err != nil {
		t.Fatal(err)
	}
}

// CheckLimits checks the server at addr, started with Limits: small is a path it answers
// with 200, big one of BigSize bytes.
func CheckLimits(t *testing.T, addr, small, big string) {
	t.Run("an idle keep-alive connection is closed", func(t *testing.T) {
		c, br := dial(t, addr)
		get(t, c, br, small)
		if !closedWithin(c, br, Limits.Idle+2*time.Second) {
			t.Errorf("the connection was still open %v after its response", Limits.Idle+2*time.Second)
		}
	})
	t.Run("headers that never end are cut off", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "GET "+small+" HTTP/1.1\r\n")
		if !closedWithin(c, br, Limits.ReadHeader+2*time.Second) {
			t.Errorf("a request without its end was kept open %v", Limits.ReadHeader+2*time.Second)
		}
	})
	t.Run("a client that stops reading is cut off", func(t *testing.T) {
		c, br := dial(t, addr)
		io.WriteString(c, "GET "+big+" HTTP/1.1\r\nHost: kisgen\r\n\r\n")
		time.Sleep(3*Limits.Stall + time.Second) // not reading: the server's writes block
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := io.Copy(io.Discard, br)
		if n >= BigSize {
			t.Errorf("the server waited for the client: it read all %d bytes after sleeping (err %v)", n, err)
		}
	})
	t.Run("connections are capped, idle ones make room", func(t *testing.T) {
		for range Limits.MaxConns {
			c, br := dial(t, addr)
			get(t, c, br, small) // then idle, kept alive
		}
		c, br := dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		get(t, c, br, small) // answered: the idle connections gave way
		c.Close()

		// Connections busy with a request (here: one whose headers never end) are not
		// closed for a newcomer, which waits until one is done.
		t0 := time.Now()
		for range Limits.MaxConns {
			c, _ := dial(t, addr)
			io.WriteString(c, "GET "+small+" HTTP/1.1\r\n")
		}
		c, br = dial(t, addr)
		io.WriteString(c, "GET "+small+" HTTP/1.1\r\nHost: kisgen\r\n\r\n")
		_ = c.SetReadDeadline(t0.Add(Limits.ReadHeader / 2))
		// An answer before the busy connections' header timeout means there was no cap
		// (on a machine so loaded that the timeout has passed, an answer proves nothing).
		if _, err := br.Peek(1); !isTimeout(err) && time.Since(t0) < Limits.ReadHeader {
			t.Errorf("a connection beyond the cap was answered at once (err %v)", err)
		}
		_ = c.SetReadDeadline(time.Now().Add(Limits.ReadHeader + 5*time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the waiting connection got no answer once a slot was free: %v", err)
		}
		resp.Body.Close()
	})
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// get sends one keep-alive request on c and reads its whole response.
func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: kisgen\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET %s: %s (close %v)", path, resp.Status, resp.Close)
	}
	_ = c.SetDeadline(time.Time{})
}

// closedWithin says whether the server closes c (EOF or reset) within d.
func closedWithin(c net.Conn, br *bufio.Reader, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, br)
	return !isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
