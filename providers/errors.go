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
	// ErrBadRecord is returned when a provider's record of what it created cannot be read.
	ErrBadRecord = errors.New("unreadable provider record")
	// ErrSetting is returned when the plan lacks a setting a provider needs.
	ErrSetting = errors.New("missing or invalid provider setting")
	// ErrFormat is returned for user-data in a format the provider does not boot.
	ErrFormat = errors.New("user-data format not booted by the provider")
	// ErrInvalid is returned when Check finds what the provider cannot boot.
	ErrInvalid = errors.New("the plan asks what the provider cannot do")
	// ErrUnsupported is returned when a run needs what the provider cannot do yet
	// (remove single machines, for --replace and --prune).
	ErrUnsupported = errors.New("not supported by the provider")
)
