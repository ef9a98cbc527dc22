package instances

import "errors"

var (
	// ErrNoRecord is returned when the state directory has no instances record: nothing
	// was provisioned with it yet.
	ErrNoRecord = errors.New("no instances record")
	// ErrBadRecord is returned for a record that cannot be read: not JSON, another
	// apiVersion or kind, an unknown field, or an entry without a node, machine or a valid
	// SSH address or host key.
	ErrBadRecord = errors.New("unreadable instances record")
	// ErrOtherProvider is returned when the record lists the machines of another provider
	// than the one asked for.
	ErrOtherProvider = errors.New("instances record of another provider")
	// ErrOtherCluster is returned when the record lists the machines of another cluster
	// than the plan's.
	ErrOtherCluster = errors.New("instances record of another cluster")
)
