package outdir

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncTree makes everything written under dir durable with one syncfs(2) of its
// filesystem instead of an fsync per file: thousands of nodes cost one journal commit.
func syncTree(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
