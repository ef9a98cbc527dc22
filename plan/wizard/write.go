package wizard

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// WriteOptions changes how Write writes.
type WriteOptions struct {
	// Force replaces an existing plan file.
	Force bool
	// KeepInvalid writes a plan that has errors (a converted plan the user fixes next);
	// the report still holds them.
	KeepInvalid bool
}

// Write checks data as the plan file path and writes it there atomically, readable by all
// (a plan holds no secret: the SSH key is a path). The check is package plan's, run as
// `kisgen validate` would, SSH key included: with any error nothing is written and the
// report says why (ErrInvalidPlan), unless KeepInvalid. Without Force an existing file is
// never replaced (ErrPlanExists), even one created while the interview ran. The report's
// warnings are for the caller to show.
func Write(path string, data []byte, opts WriteOptions) (*report.Report, error) {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("write plan: %w", err)
	}
	defer root.Close()
	_, rep := plan.Parse(path, data, plan.Options{Root: root})
	// The mirror's SHA256SUMS comes later, from `kisgen mirror build` with this plan.
	plan.ForgiveUnbuiltChecksums(rep)
	if rep.IsFatal(false) && !opts.KeepInvalid {
		return rep, fmt.Errorf("%w: %s: %s", ErrInvalidPlan, path, rep.Summary())
	}
	if opts.Force {
		err = atomicfile.WriteFile(path, data, 0o644)
	} else {
		err = atomicfile.CreateExclusive(path, data, 0o644)
	}
	if errors.Is(err, atomicfile.ErrExists) {
		return rep, fmt.Errorf("%w: %s (replace it with --force, or write another file with -f)", ErrPlanExists, path)
	}
	if err != nil {
		return rep, err
	}
	return rep, nil
}

// CheckNotExists fails early, before any question, when path exists and force is off.
func CheckNotExists(path string, force bool) error {
	if force {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %s (replace it with --force, or write another file with -f)", ErrPlanExists, path)
	}
	return nil
}
