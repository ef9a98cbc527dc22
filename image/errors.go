package image

import "errors"

var (
	// ErrUnsupportedOS is returned for an operating system the local image build cannot make.
	ErrUnsupportedOS = errors.New("unsupported operating system for a local image")
	// ErrMissingTool is returned when a program the build needs is not installed.
	ErrMissingTool = errors.New("missing tool")
	// ErrNotBuilt is returned by Find when no image has been built under that name.
	ErrNotBuilt = errors.New("image not built")
)
