package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Handler serves dir read-only with one access log line per request.
func Handler(dir string, log io.Writer) http.Handler {
	fsrv := http.FileServer(http.Dir(dir))
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(rec, "read-only mirror", http.StatusMethodNotAllowed)
		} else {
			fsrv.ServeHTTP(rec, r)
		}
		mu.Lock()
		fmt.Fprintf(log, "%s %s %s %s %d %dB %s\n", t0.UTC().Format(time.RFC3339), r.RemoteAddr, r.Method, r.URL.Path, rec.status, rec.bytes, time.Since(t0).Round(time.Millisecond))
		mu.Unlock()
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Server is a running mirror server.
type Server struct {
	// Addr is the address it listens on (host:port), useful with port 0.
	Addr string
	srv  *http.Server
	done chan error
}

// Start serves dir on listen (e.g. 127.0.0.1:8080 or 127.0.0.1:0) until Shutdown.
func Start(dir, listen string, log io.Writer) (*Server, error) {
	if _, err := os.Stat(filepath.Join(dir, ChecksumsFile)); err != nil {
		return nil, fmt.Errorf("%w: %s has no %s (run `kisgen mirror build --out %s`)", ErrNotMirror, dir, ChecksumsFile, dir)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), done: make(chan error, 1),
		srv: &http.Server{Handler: Handler(dir, log), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// Shutdown stops accepting connections and waits for requests in flight (downloads of
// large binaries included) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.done; serr != nil && err == nil {
		err = serr
	}
	return err
}

// Serve runs a mirror server until ctx is cancelled, then stops it gracefully (giving
// downloads in flight up to 30 seconds).
func Serve(ctx context.Context, dir, listen string, log io.Writer) error {
	s, err := Start(dir, listen, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "serving %s on http://%s/\n", dir, s.Addr)
	select {
	case <-ctx.Done():
	case err := <-s.done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Fprintf(log, "stopping: waiting for downloads in flight\n")
	return s.Shutdown(sctx)
}
