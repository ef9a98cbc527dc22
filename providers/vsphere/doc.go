// Package vsphere is the vSphere provider: each node is a clone of its group's template
// (machine.image, an inventory path), placed in the plan's folder, resource pool,
// datastore and network, sized per role, and given its user-data through guestinfo:
// guestinfo.userdata and guestinfo.metadata (hostname and static network in cloud-init's
// network-config v2 form) for cloud-init's VMware datasource, or
// guestinfo.ignition.config.data for Ignition, each gzip+base64 encoded. The clone is
// powered on and kisgen waits for VMware Tools to report its address.
//
// Who can read the user-data: guestinfo values can be read by anyone with read access to
// the VM's configuration in vCenter (Virtual machine > Configuration, the vSphere API's
// config.extraConfig) and by any process in the guest through VMware Tools. cloud-init's
// VMware datasource clears the keys a metadata cleanup-guestinfo list names; kisgen
// treats user-data as readable by vSphere administrators.
//
// Credentials come from govc's environment variables: GOVC_URL, GOVC_USERNAME,
// GOVC_PASSWORD, GOVC_INSECURE (and GOVC_TLS_CA_CERTS), never from flags or the plan.
package vsphere
