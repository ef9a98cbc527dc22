package render

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// Write writes every node's user-data and the manifest into a new directory beside out,
// then swaps it in place of out: readers see the old output or the whole new one, and
// a failure leaves the last good output untouched. The directory is 0700 and the files
// 0600: user-data holds private keys.
func Write(res *Result, out string) error {
	st, err := newStage(out)
	if err != nil {
		return err
	}
	for _, n := range res.Nodes {
		if err := st.write(n.File, n.Data); err != nil {
			st.abort()
			return err
		}
	}
	return st.commit(res.Manifest)
}

// RenderTo is Render followed by Write, without holding every node's user-data in
// memory: each node's file goes into the staging directory as soon as it is rendered
// and validated, and the result keeps only its sizes and sums (NodeResult.Data is nil).
// out is replaced only when every node rendered and fits its budget; otherwise the
// staging directory is removed and out is left as it was.
func RenderTo(p *plan.Plan, s roles.Secrets, opts Options, out string) (*Result, error) {
	st, err := newStage(out)
	if err != nil {
		return nil, err
	}
	opts.stage = st
	res, err := Render(p, s, opts)
	if err != nil {
		st.abort()
		return res, err
	}
	if err := st.commit(res.Manifest); err != nil {
		return res, err
	}
	return res, nil
}

// stage is an output directory being written beside its final place.
type stage struct {
	out, dir string
	mu       sync.Mutex
	paths    []string
}

func newStage(out string) (*stage, error) {
	out = filepath.Clean(out)
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("write user-data: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("write user-data: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("write user-data: %w", err)
	}
	return &stage{out: out, dir: dir}, nil
}

// write creates a file (0600) in the staging directory; safe for concurrent use.
func (s *stage) write(name string, data []byte) error {
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write user-data: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	s.mu.Lock()
	s.paths = append(s.paths, path)
	s.mu.Unlock()
	return nil
}

// commit writes the manifest, makes everything durable (syncAll) and swaps the staging
// directory in place of out.
func (s *stage) commit(m Manifest) error {
	data, err := m.Marshal()
	if err == nil {
		err = s.write(ManifestFile, data)
	}
	if err == nil {
		err = syncAll(s.dir, s.paths)
	}
	if err == nil {
		err = atomicfile.ReplaceDir(s.dir, s.out)
	}
	if err != nil {
		s.abort()
	}
	return err
}

func (s *stage) abort() { _ = os.RemoveAll(s.dir) }
