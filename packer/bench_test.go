package packer

import (
	"path/filepath"
	"testing"
)

// BenchmarkGenerate: the three templates of a plan, in memory.
func BenchmarkGenerate(b *testing.B) {
	f := newFixture(b, vspherePlan, nil)
	opts := Options{Out: filepath.Join(f.dir, "packer"), Builders: Builders(), Checksums: f.sums, BuildKey: testBuildKey}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(f.p, opts); err != nil {
			b.Fatal(err)
		}
	}
}
