package conformance

import "errors"

var (
	// ErrUnknownMode is returned for a mode other than quick, network and certified.
	ErrUnknownMode = errors.New("unknown conformance mode")
	// ErrBadRegexp is returned when --focus or --skip is not a regular expression.
	ErrBadRegexp = errors.New("invalid regular expression")
	// ErrNoResults is returned when the state directory holds no finished run.
	ErrNoResults = errors.New("no conformance results")
	// ErrSpecsFailed is returned when the run finished and a spec failed (or the suite
	// itself did: its setup, its timeout).
	ErrSpecsFailed = errors.New("conformance specs failed")
	// ErrRemote is returned when the suite could not be started on the master or its
	// report could not be read back.
	ErrRemote = errors.New("conformance run on the master failed")
	// ErrImagesMissing is returned when a node lacks an image the specs run: offline,
	// they would wait for a pull that cannot happen.
	ErrImagesMissing = errors.New("e2e images missing on nodes")
)
