package wizard

import (
	"fmt"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// FromKismatic converts the Kismatic v1.12 plan src (its bytes in data) into a commented
// kisgen plan to be written at dst. A relative SSH key path is rewritten relative to
// dst's directory so that it still names the same file. The report holds the findings
// about src (deprecated and ignored keys); the bytes are nil when src cannot be
// converted faithfully.
func FromKismatic(src string, data []byte, dst string) ([]byte, *report.Report, error) {
	v, rep := plan.ConvertKismatic(src, data)
	if v == nil {
		return nil, rep, fmt.Errorf("%w: %s cannot be converted: %s", ErrInvalidPlan, src, rep.Summary())
	}
	key := v.Cluster.SSH.Key
	if key == "" {
		key = plan.DefaultSSHKey
	}
	if !filepath.IsAbs(key) {
		srcDir, err1 := filepath.Abs(filepath.Dir(src))
		dstDir, err2 := filepath.Abs(filepath.Dir(dst))
		if err1 == nil && err2 == nil && srcDir != dstDir {
			// A path leaving the plan's directory must be absolute: the plan's files are
			// read through its directory, and only absolute paths may leave it.
			abs := filepath.Join(srcDir, key)
			if rel, err := filepath.Rel(dstDir, abs); err == nil && filepath.IsLocal(rel) {
				v.Cluster.SSH.Key = rel
			} else {
				v.Cluster.SSH.Key = abs
			}
		}
	}
	out, err := Encode(v, EncodeOptions{
		Header: fmt.Sprintf("Converted by `kisgen plan --from-kismatic %s` from a Kismatic v1.12 plan:\n"+
			"renamed keys now have their kisgen names, ignored ones are gone (docs/plan.md lists both).\n"+
			"Check it with `kisgen validate`.", filepath.Base(src)),
	})
	if err != nil {
		return nil, rep, err
	}
	return out, rep, nil
}
