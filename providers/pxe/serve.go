package pxe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kisgen/kisgen/internal/httpserve"
)

// ServeOptions configure Handler and Serve.
type ServeOptions struct {
	// AnySource serves each node's user-data to any address, not only to the node's own
	// (needed behind NAT, e.g. qemu's user network, where every request comes from the
	// gateway).
	AnySource bool
	// Log receives one line per request, and a line when a node fetches its user-data.
	Log io.Writer
	// Limits bound what clients can hold of the server (zero: httpserve's defaults).
	Limits httpserve.Limits
}

// ReadManifest reads a bundle's manifest.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (build one with `kisgen bundle pxe --out %s`)", ErrNotBundle, dir, err, dir)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotBundle, filepath.Join(dir, ManifestFile), err)
	}
	return &m, nil
}

// Handler serves a bundle read-only. A node's user-data is answered only to the node's
// address unless AnySource is set. Files are read through an os.Root on dir, kept open
// for the handler's life: a symlink in the bundle that leads out of it is not followed.
func Handler(dir string, opts ServeOptions) (http.Handler, error) {
	h, _, err := newHandler(dir, opts)
	return h, err
}

func newHandler(dir string, opts ServeOptions) (http.Handler, *os.Root, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotBundle, err)
	}
	owner := map[string]ManifestNode{}
	for _, n := range m.Nodes {
		for _, p := range n.Private {
			owner["/"+p] = n
		}
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	files := http.FileServer(http.FS(insideRoot{root.FS()}))
	var mu sync.Mutex
	logf := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(logw, format, a...)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := httpserve.NewRecorder(w)
		clean := path.Clean("/" + r.URL.Path)
		remote, _, _ := net.SplitHostPort(r.RemoteAddr)
		node, private := owner[clean]
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			http.Error(rec, "read-only", http.StatusMethodNotAllowed)
		case clean == "/"+ManifestFile:
			http.Error(rec, "not served", http.StatusNotFound)
		case private && !opts.AnySource && remote != node.IP:
			http.Error(rec, fmt.Sprintf("kisgen: %s's user-data is served only to %s", node.Host, node.IP), http.StatusForbidden)
		default:
			files.ServeHTTP(rec, r)
		}
		logf("%s", httpserve.AccessLine(t0, r, rec))
		if private && rec.Status == http.StatusOK && r.Method == http.MethodGet {
			logf("pxe: %s fetched its user-data (%s)\n", node.Host, clean)
		}
	}), root, nil
}

// insideRoot answers "not found" where os.Root refuses a path (a symlink leading out of
// the bundle): the file server would answer 500, as for a broken disk.
type insideRoot struct{ fsys fs.FS }

func (f insideRoot) Open(name string) (fs.File, error) {
	file, err := f.fsys.Open(name)
	if err != nil && !errors.Is(err, fs.ErrPermission) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, err
}

// Serve serves the bundle on ln until ctx is done.
func Serve(ctx context.Context, ln net.Listener, dir string, opts ServeOptions) error {
	h, root, err := newHandler(dir, opts)
	if err != nil {
		return err
	}
	defer root.Close()
	srv := httpserve.New(h, opts.Limits)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// ListenAddr is the address to listen on for a bundle: the flag when given, else every
// interface on the http_url's port (80 when it has none).
func ListenAddr(flag string, m *Manifest) string {
	if flag != "" {
		return flag
	}
	rest := strings.TrimPrefix(m.HTTPURL, "http://")
	host := strings.SplitN(rest, "/", 2)[0]
	if _, port, err := net.SplitHostPort(host); err == nil {
		return ":" + port
	}
	return ":80"
}
