package ec2

import "errors"

var (
	// ErrNotFound is returned when an AMI, key pair or subnet named by the plan does not exist.
	ErrNotFound = errors.New("not found")
	// ErrSecretsMode is returned when a secrets mode cannot deliver a node's user-data.
	ErrSecretsMode = errors.New("secrets mode not possible")
	// ErrTimeout is returned when an instance does not reach the state waited for in time.
	ErrTimeout = errors.New("timed out")
	// ErrStopped is returned for a stopped instance of the cluster that kisgen does not
	// start: one it has no record of.
	ErrStopped = errors.New("instance stopped")
	// ErrNotRecorded is returned by Destroy for tagged resources kisgen has no record of.
	ErrNotRecorded = errors.New("tagged but not in kisgen's record")
)
