package wizard

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/kisgen/kisgen/plan/v1alpha1"
)

func BenchmarkEncode(b *testing.B) {
	v := &v1alpha1.Plan{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.Kind}
	v.Cluster.Name = "big"
	for i := 0; i < 1000; i++ {
		v.Worker.Nodes = append(v.Worker.Nodes, v1alpha1.Node{Host: fmt.Sprintf("worker%d", i), IP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1),
			Labels: map[string]string{"example.com/rack": fmt.Sprintf("r%d", i%40)}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(v, EncodeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInterview is `kisgen plan --non-interactive`: every answer is checked by
// validating the plan so far.
func BenchmarkInterview(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Interview(strings.NewReader(""), io.Discard, Options{NonInteractive: true, PlanDir: dir}); err != nil {
			b.Fatal(err)
		}
	}
}
