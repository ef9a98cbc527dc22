package roles

import "errors"

// Sentinel errors; every error roles returns wraps one of them with what it is about.
var (
	// ErrInput means a file the plan names (SSH key, checksums) cannot be used.
	ErrInput = errors.New("plan input")
	// ErrMissingSecret means the PKI lacks a certificate, key or host key a node needs.
	ErrMissingSecret = errors.New("missing from the PKI")
	// ErrUnsupported means the plan asks for something roles cannot render faithfully.
	ErrUnsupported = errors.New("not supported")
	// ErrNotInPlan means a node passed to Build is not one of the plan's nodes.
	ErrNotInPlan = errors.New("node is not in the plan")
	// ErrImageManifest means an image manifest is not in the canonical form.
	ErrImageManifest = errors.New("invalid image manifest")
)
