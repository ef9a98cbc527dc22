package qemu

import "errors"

var (
	// ErrMissingTool is returned when qemu, qemu-img or genisoimage is not installed.
	ErrMissingTool = errors.New("missing tool")
	// ErrNoImage is returned when the plan's image has not been built.
	ErrNoImage = errors.New("VM image not found")
	// ErrUnsupportedFormat is returned for nodes whose user-data is not cloud-init.
	ErrUnsupportedFormat = errors.New("user-data format not supported by the qemu provider")
	// ErrBootTimeout is returned when a VM's sshd did not come up in time.
	ErrBootTimeout = errors.New("VM did not boot in time")
	// ErrBootStalled is returned when a VM's console stopped before its boot finished,
	// again after the VM was started a second time.
	ErrBootStalled = errors.New("VM boot hung")
	// ErrVMDied is returned when a qemu process exits while its VM boots.
	ErrVMDied = errors.New("VM stopped")
	// ErrKVM is returned when KVM was asked for but does not work.
	ErrKVM = errors.New("KVM not usable")
	// ErrMirror is returned when the plan's mirror URL cannot be reached from the VMs.
	ErrMirror = errors.New("mirror not reachable from the VMs")
)
