package metal

import "errors"

var (
	// ErrNoToken is returned when neither METAL_AUTH_TOKEN nor PACKET_AUTH_TOKEN is set.
	ErrNoToken = errors.New("no Metal API token")
	// ErrNotRecorded is returned by Destroy for tagged devices missing from the record.
	ErrNotRecorded = errors.New("tagged for this cluster but not in kisgen's record")
	// ErrDeviceFailed is returned when a device ends in the failed state.
	ErrDeviceFailed = errors.New("device failed")
	// ErrTimeout is returned when a device does not become active in time.
	ErrTimeout = errors.New("timed out")
	// ErrAddress is returned when a node's plan address is not one the project reserved,
	// or the device did not get it.
	ErrAddress = errors.New("address not reserved for the node")
	// errNoReplay is returned when a request to repeat has a body that cannot be read again.
	errNoReplay = errors.New("the request cannot be repeated: its body cannot be read again")
)
