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

	"github.com/kisgen/kisgen/internal/atomicfile"
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
	// Installs is where the server keeps which machines it handed their install to (one
	// file per MAC address), so that it tells a new machine from an installed one: a new
	// machine's script (ipxe/MAC.ipxe) is its install; a known machine's boots its disk
	// (and installs only when the disk does not boot). Empty: every machine gets the
	// bundle's ipxe/MAC.ipxe, which boots the disk first.
	Installs string
}

// Install states, as Installs records them.
const (
	// StateInstalling: the machine was handed its install script.
	StateInstalling = "installing"
	// StateInstalled: the machine booted from its disk and fetched its user-data.
	StateInstalled = "installed"
)

// InstallRecord is what the server knows of a machine's install.
type InstallRecord struct {
	Host  string    `json:"host"`
	MAC   string    `json:"mac"`
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// installs keeps the install records of one server.
type installs struct {
	mu  sync.Mutex
	dir string
}

func (s *installs) path(mac string) string { return filepath.Join(s.dir, HexHyp(mac)+".json") }

// get returns the machine's record, nil for a machine the server never handed an install.
func (s *installs) get(mac string) *InstallRecord {
	b, err := os.ReadFile(s.path(mac))
	if err != nil {
		return nil
	}
	var r InstallRecord
	if json.Unmarshal(b, &r) != nil {
		return nil
	}
	return &r
}

func (s *installs) put(n ManifestNode, state string) error {
	b, err := json.MarshalIndent(InstallRecord{Host: n.Host, MAC: n.MAC, State: state, Since: time.Now().UTC().Truncate(time.Second)}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.path(n.MAC), append(b, '\n'), 0o600)
}

// ReadInstalls lists the install records in dir, by MAC address.
func ReadInstalls(dir string) (map[string]InstallRecord, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]InstallRecord{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var r InstallRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, e.Name()), err)
		}
		out[r.MAC] = r
	}
	return out, nil
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
	byScript := map[string]ManifestNode{} // /ipxe/MAC.ipxe of the nodes that install
	for _, n := range m.Nodes {
		for _, p := range n.Private {
			owner["/"+p] = n
		}
		if n.Install {
			byScript["/ipxe/"+HexHyp(n.MAC)+".ipxe"] = n
		}
	}
	var inst *installs
	if opts.Installs != "" {
		if err := os.MkdirAll(opts.Installs, 0o700); err != nil {
			return nil, nil, fmt.Errorf("the install records: %w", err)
		}
		inst = &installs{dir: opts.Installs}
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
		installer, script := byScript[clean]
		var note string
		switch {
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			http.Error(rec, "read-only", http.StatusMethodNotAllowed)
		case clean == "/"+ManifestFile:
			http.Error(rec, "not served", http.StatusNotFound)
		case private && !opts.AnySource && remote != node.IP:
			http.Error(rec, fmt.Sprintf("kisgen: %s's user-data is served only to %s", node.Host, node.IP), http.StatusForbidden)
		case script && inst != nil && r.Method == http.MethodGet:
			note = inst.serveScript(rec, r, root, installer)
		default:
			files.ServeHTTP(rec, r)
		}
		logf("%s", httpserve.AccessLine(t0, r, rec))
		if note != "" {
			logf("pxe: %s\n", note)
		}
		if private && rec.Status == http.StatusOK && r.Method == http.MethodGet {
			logf("pxe: %s fetched its user-data (%s)\n", node.Host, clean)
			if inst != nil && node.Install {
				if msg := inst.fetched(node); msg != "" {
					logf("pxe: %s\n", msg)
				}
			}
		}
	}), root, nil
}

// serveScript answers a machine's boot script: its install when the server never handed
// it one (a new machine, whatever its disk holds), else the bundle's script, which boots
// the disk and installs only when the disk does not boot. It returns a line for the log.
func (s *installs) serveScript(w http.ResponseWriter, r *http.Request, root *os.Root, n ManifestNode) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.get(n.MAC); rec != nil {
		http.ServeFileFS(w, r, insideRoot{root.FS()}, strings.TrimPrefix(path.Clean(r.URL.Path), "/"))
		return fmt.Sprintf("%s is known (%s since %s): it boots from its disk", n.Host, rec.State, rec.Since.Format(time.RFC3339))
	}
	b, err := root.ReadFile(n.InstallScript)
	if err != nil {
		http.Error(w, "no install script", http.StatusInternalServerError)
		return fmt.Sprintf("%s: %s: %v", n.Host, n.InstallScript, err)
	}
	if err := s.put(n, StateInstalling); err != nil {
		http.Error(w, "cannot record the install", http.StatusInternalServerError)
		return fmt.Sprintf("%s: record its install: %v", n.Host, err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(b)
	return fmt.Sprintf("%s is new: it installs its image to its disk (%s)", n.Host, n.InstallScript)
}

// fetched notes that a machine fetched its user-data: one that was handed its install has
// booted from its disk, so it is installed.
func (s *installs) fetched(n ManifestNode) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.get(n.MAC); rec == nil || rec.State != StateInstalling {
		return ""
	}
	if err := s.put(n, StateInstalled); err != nil {
		return fmt.Sprintf("%s: record its install: %v", n.Host, err)
	}
	return fmt.Sprintf("%s installed: its first boot from its disk fetched its user-data", n.Host)
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
