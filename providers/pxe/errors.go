package pxe

import "errors"

var (
	// ErrMissingAsset is returned when the kernel, initrd or mirror to bundle is missing.
	ErrMissingAsset = errors.New("missing boot asset")
	// ErrNoMAC is returned when a node has no MAC address to select its script by.
	ErrNoMAC = errors.New("node without MAC address")
	// ErrNotBundle is returned by Serve for a directory that is not a kisgen PXE bundle.
	ErrNotBundle = errors.New("not a kisgen PXE bundle")
)
