package render

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/atomicfile"
)

// Write writes every node's user-data and the manifest into a new directory beside out,
// then swaps it in place of out: readers see the old output or the whole new one, and
// a failure leaves the last good output untouched. The directory is 0700 and the files
// 0600: user-data holds private keys.
func Write(res *Result, out string) error {
	out = filepath.Clean(out)
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write user-data: %w", err)
	}
	staged, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return fmt.Errorf("write user-data: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(staged)
		}
	}()
	if err := os.Chmod(staged, 0o700); err != nil {
		return fmt.Errorf("write user-data: %w", err)
	}
	paths := make([]string, 0, len(res.Nodes)+1)
	for _, n := range res.Nodes {
		path := filepath.Join(staged, n.File)
		if err := writeNew(path, n.Data); err != nil {
			return err
		}
		paths = append(paths, path)
	}
	m, err := res.Manifest.Marshal()
	if err != nil {
		return err
	}
	path := filepath.Join(staged, ManifestFile)
	if err := writeNew(path, m); err != nil {
		return err
	}
	if err := syncAll(staged, append(paths, path)); err != nil {
		return err
	}
	if err := atomicfile.ReplaceDir(staged, out); err != nil {
		return err
	}
	ok = true
	return nil
}

// writeNew creates path (0600) with data; syncAll makes the whole directory durable
// before it is swapped in.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write user-data: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
