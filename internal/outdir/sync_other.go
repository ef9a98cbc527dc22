//go:build !linux

package outdir

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// syncTree fsyncs every regular file and directory under dir (no syncfs here).
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil && !d.IsDir() {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		return nil
	})
}
