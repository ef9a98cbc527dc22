// Package flock serializes kisgen processes (and goroutines) on a lock file with
// flock(2): the PKI's state directory, an output directory's swap, an image bake, a
// binary build. The lock is advisory and belongs to the open file, so the kernel drops
// it when the process dies: a crash never leaves a stale lock behind, unlike a lock
// file whose mere existence means "taken".
package flock

import (
	"fmt"
	"os"
)

// Lock opens path (creating it, mode 0600) and takes an exclusive lock on it, waiting
// while another process or another Lock call in this process holds it. The returned
// function releases it; the file itself stays, empty, for the next holder.
func Lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Closing the file releases the lock (flock locks belong to the open file).
	return func() { _ = f.Close() }, nil
}
