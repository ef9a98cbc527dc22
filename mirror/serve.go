package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kisgen/kisgen/internal/httpserve"
)

// Handler serves dir read-only with one access log line per request. It serves files
// only: no directory listing, and nothing whose path has a segment starting with a dot
// (an editor's swap file, a .git directory, a download's temporary file).
func Handler(dir string, log io.Writer) http.Handler {
	fsrv := http.FileServer(filesOnly{http.Dir(dir)})
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := httpserve.NewRecorder(w)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(rec, "read-only mirror", http.StatusMethodNotAllowed)
		} else {
			fsrv.ServeHTTP(rec, r)
		}
		mu.Lock()
		fmt.Fprint(log, httpserve.AccessLine(t0, r, rec))
		mu.Unlock()
	})
}

// filesOnly answers "not found" for directories and dotted names. It decides on the file
// it opened, so a path swapped for a directory between a check and the open cannot list.
type filesOnly struct{ fs http.FileSystem }

func (f filesOnly) Open(name string) (http.File, error) {
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") {
			return nil, fs.ErrNotExist
		}
	}
	file, err := f.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		file.Close()
		return nil, fs.ErrNotExist
	}
	return file, nil
}

// Server is a running mirror server.
type Server struct {
	// Addr is the address it listens on (host:port), useful with port 0.
	Addr string
	srv  *httpserve.Server
	done chan error
}

// Start serves dir on listen (e.g. 127.0.0.1:8080 or 127.0.0.1:0) until Shutdown, under
// the default httpserve limits.
func Start(dir, listen string, log io.Writer) (*Server, error) {
	return start(dir, listen, log, httpserve.Limits{})
}

func start(dir, listen string, log io.Writer, lim httpserve.Limits) (*Server, error) {
	if _, err := os.Stat(filepath.Join(dir, ChecksumsFile)); err != nil {
		return nil, fmt.Errorf("%w: %s has no %s (run `kisgen mirror build --out %s`)", ErrNotMirror, dir, ChecksumsFile, dir)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), done: make(chan error, 1), srv: httpserve.New(Handler(dir, log), lim)}
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
