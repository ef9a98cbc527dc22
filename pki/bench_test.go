package pki

import (
	"os"
	"path/filepath"
	"testing"

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
