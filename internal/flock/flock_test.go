package flock

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLockExcludes proves two holders never overlap, also within one process (each
// Lock opens the file again, and flock locks belong to the open file).
func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	var inside, overlaps atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := Lock(path)
			if err != nil {
				t.Error(err)
				return
			}
			if inside.Add(1) > 1 {
				overlaps.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d holders overlapped", n)
	}
}

func TestLockMissingDirectory(t *testing.T) {
	if _, err := Lock(filepath.Join(t.TempDir(), "absent", ".lock")); err == nil {
		t.Error("Lock in a missing directory succeeded")
	}
}
