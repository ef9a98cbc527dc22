package pki

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kisgen/kisgen/plan"
)

// bigPlan is a 1,000-node plan: 3 etcd, 3 masters, 994 workers.
func bigPlan(t testing.TB) *plan.Plan { return genPlan(t, 3, 3, 994) }

// BenchmarkEnsure1000Nodes issues the whole PKI of a 1,000-node plan from scratch
// (fresh) and runs Ensure again on the issued state (reuse).
func BenchmarkEnsure1000Nodes(b *testing.B) {
	p := bigPlan(b)
	b.Run("fresh", func(b *testing.B) {
		root := b.TempDir()
		defer reportCPU(b)()
		for i := 0; b.Loop(); i++ {
			dir, err := os.MkdirTemp(root, "state-")
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := Ensure(p, dir, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reuse", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "state")
		if _, _, err := Ensure(p, dir, Options{}); err != nil {
			b.Fatal(err)
		}
		defer reportCPU(b)()
		for b.Loop() {
			_, ch, err := Ensure(p, dir, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if len(ch) != 0 {
				b.Fatalf("reuse changed %d items", len(ch))
			}
		}
	})
}

// reportCPU adds the process's CPU time (user + system) per operation to a benchmark's
// result: on a machine shared with other work, wall time says how busy the machine was,
// CPU time how much work Ensure did. Call as `defer reportCPU(b)()` before the loop.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStateWrites compares ways to write the files of a 1,000-node state: one
// node file per host (about 1,050 files of 3 KiB) with an fsync per file or one syncfs
// at the end, and the per-item layout it replaced (about 7,000 files of 0.8 KiB).
func BenchmarkStateWrites(b *testing.B) {
	for _, tc := range []struct {
		name      string
		files     int
		size      int
		fsyncEach bool
	}{
		{"1050-files-fsync-each", 1050, 3 << 10, true},
		{"1050-files-one-syncfs", 1050, 3 << 10, false},
		{"7000-files-one-syncfs", 7000, 800, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			root := b.TempDir()
			data := make([]byte, tc.size)
			for i := 0; b.Loop(); i++ {
				dir := filepath.Join(root, strconv.Itoa(i))
				if err := os.Mkdir(dir, 0o700); err != nil {
					b.Fatal(err)
				}
				w := &writer{fsyncEach: tc.fsyncEach}
				parallel(tc.files, func(j int) {
					if err := w.replace(filepath.Join(dir, strconv.Itoa(j)+".pem"), data, 0o600); err != nil {
						b.Error(err)
					}
				})
				if err := w.sync(dir); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
