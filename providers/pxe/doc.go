// Package pxe builds and serves a self-contained network-boot bundle for bare metal:
// per-node iPXE scripts selected by MAC address, the kernel and initrd to boot, each
// node's user-data served over HTTP (a NoCloud seed for cloud-init, a config URL for
// Ignition), dnsmasq configurations for DHCP reservations and TFTP (and a proxy-DHCP
// variant for networks that already have a DHCP server), iPXE chainload binaries, and
// optionally the binaries mirror for installs without internet access.
//
// Who can read the user-data: anyone who can reach the HTTP server. PXE has no
// authentication; Serve answers a node's user-data only to the address the plan (and the
// DHCP reservation) gives that node, which stops casual reads but not a host that spoofs
// the address on the same segment. Serve the bundle on a trusted provisioning network,
// and only while machines install.
package pxe
