package pki

import "errors"

// Sentinel errors. Every error pki returns wraps one of these with the file or name it is
// about, so callers can test with errors.Is and users read what to do.
var (
	// ErrNoState is returned by Load when the state directory holds no PKI yet.
	ErrNoState = errors.New("no PKI in the state directory")
	// ErrCorrupt means a file in the state directory cannot be read as what its name says.
	ErrCorrupt = errors.New("corrupt file in the state directory")
	// ErrForeign means the state directory holds a file kisgen did not write and does not
	// expect there.
	ErrForeign = errors.New("unexpected file in the state directory")
	// ErrNotCA means a CA certificate (for example one brought by the user) cannot sign:
	// it is not marked as a CA, lacks the certificate-signing key usage, or has expired.
	ErrNotCA = errors.New("not a usable CA certificate")
	// ErrKeyMismatch means a private key does not belong to the certificate beside it.
	ErrKeyMismatch = errors.New("private key does not match its certificate")
	// ErrMissingKey means a CA certificate is present without its private key.
	ErrMissingKey = errors.New("CA certificate without its private key")
	// ErrNameClash means two different certificates of the plan would get the same name
	// (for example hosts "x" and "serving-x" both need "kubelet-serving-x").
	ErrNameClash = errors.New("two certificates would have the same name")
	// ErrUnknownName means a name given to rotate is not a certificate of the plan.
	ErrUnknownName = errors.New("no such certificate")
	// ErrOtherCluster means the state directory belongs to another cluster than the plan's.
	ErrOtherCluster = errors.New("state directory of another cluster")
	// ErrRotation means a CA rotation step cannot run in the current rotation state.
	ErrRotation = errors.New("CA rotation")
)
