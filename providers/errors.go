package providers

import "errors"

var (
	// ErrUnknown is returned for a provider name nobody registered.
	ErrUnknown = errors.New("unknown provider")
	// ErrUserDataTooLarge is returned before any API call when a node's user-data exceeds
	// what the provider accepts.
	ErrUserDataTooLarge = errors.New("user-data too large")
	// ErrNoUserData is returned when a node has no rendered user-data.
	ErrNoUserData = errors.New("no rendered user-data")
)
