package render_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render"
	"github.com/kisgen/kisgen/render/rendertest"
)

// benchRender renders a plan of n nodes whose PKI is already issued.
func benchRender(b *testing.B, n int, hosts bool, format plan.Format) {
	p := rendertest.LoadLarge(b, n, hosts)
	bundle := rendertest.Bundle(b, p)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	var bytes int
	for i := 0; i < b.N; i++ {
		res, err := render.Render(p, bundle, render.Options{Format: format})
		if err != nil {
			b.Fatal(err)
		}
		bytes = 0
		for _, n := range res.Nodes {
			bytes += len(n.Data)
		}
	}
	b.ReportMetric(float64(bytes)/float64(n), "bytes/node")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// peakRSSMiB is the largest resident set this test process has had so far (Linux reports
// ru_maxrss in KiB). It covers every benchmark run before in the same process: run one
// benchmark alone (-bench '^BenchmarkRender1000Issued$') for its own peak.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

// cpuTime is the CPU time this process used so far (user and system, all threads): on a
// shared machine wall time varies with the load, CPU time much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRender1000Issued: the target is under 1 s on 2 cores.
func BenchmarkRender1000Issued(b *testing.B) { benchRender(b, 1000, false, plan.FormatCloudInit) }

// BenchmarkRender1000Ignition: the same through Butane and Ignition's validator.
func BenchmarkRender1000Ignition(b *testing.B) { benchRender(b, 1000, false, plan.FormatIgnition) }

// BenchmarkRender1000HostsBlock: with the managed hosts block every node carries every
// node's address, so the output grows with the square of the node count.
func BenchmarkRender1000HostsBlock(b *testing.B) { benchRender(b, 1000, true, plan.FormatCloudInit) }

// BenchmarkRender1000FromScratch issues the PKI, renders and writes the output, as a
// first `kisgen render` does (target under 3 s).
func BenchmarkRender1000FromScratch(b *testing.B) {
	p := rendertest.LoadLarge(b, 1000, false)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op") }()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		bundle, _, err := pki.Ensure(p, filepath.Join(dir, "generated"), pki.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := render.Render(p, bundle, render.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := render.Write(res, filepath.Join(dir, "userdata")); err != nil {
			b.Fatal(err)
		}
		if err := render.SaveRecord(filepath.Join(dir, "generated"), res.Record); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderScaling shows how rendering time grows with the node count.
func BenchmarkRenderScaling(b *testing.B) {
	for _, n := range []int{100, 1000, 3000, 10000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			if n > 1000 && testing.Short() {
				b.Skip("-short: up to 1,000 nodes")
			}
			benchRender(b, n, false, plan.FormatCloudInit)
		})
	}
}

// BenchmarkRenderTo renders 1,000 and 10,000 nodes into an output directory, as `kisgen
// render` does with the PKI issued: each node's user-data goes to disk as soon as it is
// rendered, so peak-RSS-MiB (run one size alone) is what the plan, the PKI and the
// record hold, not the user-data (target under 500 MB at 10,000 nodes). Issuing the
// PKI before the timer starts peaks at about 230 MB. The two sizes show whether the
// work grows linearly with the plan.
func BenchmarkRenderTo(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			p := rendertest.LoadLarge(b, n, false)
			bundle := rendertest.Bundle(b, p)
			render.SetSoftMemoryLimit() // as kisgen render does
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i++ {
				out := filepath.Join(b.TempDir(), "userdata")
				if _, err := render.RenderTo(p, bundle, render.Options{}, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
		})
	}
}

// BenchmarkRender100Ignition profiles the Ignition path on a smaller plan.
func BenchmarkRender100Ignition(b *testing.B) { benchRender(b, 100, false, plan.FormatIgnition) }
