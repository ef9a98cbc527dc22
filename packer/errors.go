package packer

import "errors"

var (
	// ErrNothingToBake is returned when no node of the plan runs an operating system the
	// bake script supports, or no builder applies.
	ErrNothingToBake = errors.New("nothing to bake")
	// ErrUnknownBuilder is returned for a builder name kisgen does not write.
	ErrUnknownBuilder = errors.New("unknown Packer builder")
	// ErrUnpinned is returned for a download whose sha256 is neither pinned in
	// mirror.checksums nor published in a sums file.
	ErrUnpinned = errors.New("no sha256 for a baked file")
	// ErrField is returned when a value cannot be passed to the bake script (white space
	// or '|' in a path, version or name).
	ErrField = errors.New("value not usable by the bake script")
	// ErrBuildKey is returned when the build SSH key exists but cannot be read.
	ErrBuildKey = errors.New("build SSH key")
)
