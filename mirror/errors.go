package mirror

import "errors"

var (
	// ErrMissingArchive is returned when the plan lists an image archive that is not in
	// the mirror directory.
	ErrMissingArchive = errors.New("image archive missing from the mirror")
	// ErrNotMirror is returned when a directory to serve holds no SHA256SUMS.
	ErrNotMirror = errors.New("not a mirror directory")
	// ErrBuild is returned when something the mirror built does not do what the nodes
	// need of it.
	ErrBuild = errors.New("mirror build check failed")
	// ErrConformanceVersion is returned when the e2e suite's images of the plan's
	// Kubernetes version are unknown to kisgen (roles.ConformanceVersions).
	ErrConformanceVersion = errors.New("no e2e images for this Kubernetes version")
)
