package plan

import "errors"

var (
	// ErrNotFound is returned when the plan file does not exist.
	ErrNotFound = errors.New("plan file not found")
	// ErrInvalid is returned by callers that refuse to go on with a plan whose report is fatal.
	ErrInvalid = errors.New("plan is invalid")
)
