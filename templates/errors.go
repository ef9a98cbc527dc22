package templates

import "errors"

var (
	// ErrUnknown means no template has the name asked for.
	ErrUnknown = errors.New("no such template")
	// ErrUnquotable means a value cannot be written into an environment file safely.
	ErrUnquotable = errors.New("value contains a quote, backslash or line break")
)
