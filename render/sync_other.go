//go:build !linux

package render

import (
	"fmt"
	"os"
)

// syncAll fsyncs every file and the directory (no syncfs here).
func syncAll(dir string, paths []string) error {
	for _, p := range append(paths, dir) {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("sync %s: %w", p, err)
		}
	}
	return nil
}
