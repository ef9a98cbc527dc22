package render

import "errors"

// Sentinel errors; every error render returns wraps one of them (or one of roles').
var (
	// ErrFormat means an unknown user-data format was asked for.
	ErrFormat = errors.New("unknown user-data format")
	// ErrEncode means a node's model could not be turned into user-data.
	ErrEncode = errors.New("cannot encode user-data")
	// ErrInvalidOutput means rendered user-data failed its format's validator.
	ErrInvalidOutput = errors.New("invalid user-data")
	// ErrTooBig means a node's user-data is over its provider's budget.
	ErrTooBig = errors.New("user-data over the provider's limit")
	// ErrNoRecord means the state directory has no record of a render yet.
	ErrNoRecord = errors.New("no render recorded")
	// ErrBadRecord means the record of the last render cannot be read.
	ErrBadRecord = errors.New("unreadable render record")
)
