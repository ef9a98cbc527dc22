// Package metal is the Packet / Equinix Metal provider, written against the Metal API
// (equinix-sdk-go's metalv1): one device per node, created in the plan's project and
// metro with the group's plan (machine.type) and operating system (machine.image), the
// node's user-data, and tags carrying the cluster and host. An image of custom_ipxe
// boots the node from kisgen's PXE bundle instead (ipxe_script_url pointing at
// `kisgen serve pxe`, always_pxe set).
//
// The public Equinix Metal service was retired on 2026-06-30. The adapter stays for
// Metal-compatible APIs: set provider.packet.api_url to one.
//
// Who can read the user-data: anyone with read access to the project's devices in the
// API (GET /devices/{id} returns userdata) and any process on the device that reaches
// the metadata service (metadata.platformequinix.com, no authentication).
//
// The token comes from METAL_AUTH_TOKEN (or PACKET_AUTH_TOKEN), never from flags or the
// plan.
package metal
