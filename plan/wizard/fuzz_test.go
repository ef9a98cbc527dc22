package wizard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// FuzzEncode decodes arbitrary YAML into a kisgen plan document, encodes it with Encode
// and decodes the output again: whatever strings the document holds (quotes, colons,
// hashes, control characters, numbers-as-text), the encoded plan must mean the same.
func FuzzEncode(f *testing.F) {
	for _, pattern := range []string{"../../examples/*.yaml", "../testdata/rules/*.yaml", "testdata/golden/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte("cluster: {name: \"a: b # c\", version: '010'}\nworker: {nodes: [{host: \"\\u0085x\", labels: {'': ~, 'y': 'null'}}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var v v1alpha1.Plan
		if err := yaml.Unmarshal(data, &v); err != nil {
			return
		}
		out, err := Encode(&v, EncodeOptions{Header: "h"})
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var back v1alpha1.Plan
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatalf("the encoded plan does not decode: %v\n%s", err, out)
		}
		if diff := cmp.Diff(v, back, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("the encoded plan means something else (-before +after):\n%s\n%s", diff, out)
		}
	})
}
