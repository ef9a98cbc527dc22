package vsphere

import "errors"

var (
	// ErrNotKisgens is returned when a VM with a node's name exists but was not made by
	// kisgen for this cluster.
	ErrNotKisgens = errors.New("VM exists but was not created by kisgen for this cluster")
	// ErrNotRecorded is returned by Destroy for kisgen-marked VMs missing from the record.
	ErrNotRecorded = errors.New("marked for this cluster but not in kisgen's record")
	// ErrCredentials is returned when the GOVC_* environment does not say where vCenter is.
	ErrCredentials = errors.New("no vSphere credentials")
)
