package outdir

import "errors"

// Sentinel errors.
var (
	// ErrRefused means the output path may not be replaced: it is not kisgen's output,
	// or it would delete something kisgen must never lose.
	ErrRefused = errors.New("refusing to replace the output directory")
	// ErrRecover means an interrupted swap of the output could not be repaired.
	ErrRecover = errors.New("cannot repair an interrupted output swap")
)
