// Package qemu is kisgen's default provider: one local qemu VM per node, booted from the
// image `kisgen image build` bakes, with the node's rendered user-data as a NoCloud seed
// (an ISO labelled cidata).
//
// Networking needs no root and touches no host interface. Each VM has two NICs:
//   - a restricted user-mode NIC (restrict=on): the guest reaches nothing on the host or
//     beyond except SSH forwarded from 127.0.0.1:(ssh_base_port+index) and the mirror, which
//     the guest sees at the plan's mirror.url (an address in 10.0.2.0/24) and which is
//     forwarded to the same port on 127.0.0.1;
//   - a cluster NIC on a private Ethernet segment among the VMs, carrying the plan's
//     internal addresses (set by MAC through the seed's network-config). The segment is a
//     small learning switch in user space (Switch) that qemu's `-netdev stream` sockets
//     connect to; it runs as a detached kisgen helper process so the VMs outlive the
//     provisioning command.
//
// KVM is used only when it really works (kvm_intel or kvm_amd loaded and a short test
// boot succeeds); otherwise TCG, with a loud warning. Machines are found again by their
// pidfiles and qemu names, so provisioning is idempotent; what was created is recorded in
// StateDir/providers/qemu.json. A first boot whose console goes silent before it finishes
// is taken for a hung guest and started again once (Provider.StallTimeout). Each VM's
// share of a busy host follows its vCPU count (share.go): qemu -daemonize starts a session,
// and autogroup scheduling would otherwise give every VM one equal share.
package qemu
