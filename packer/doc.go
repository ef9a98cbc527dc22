// Package packer writes Packer HCL2 templates that bake kisgen node images: one template
// per builder and operating system of a plan — amazon-ebs for AWS, vsphere-clone for
// vSphere, qemu for local VMs and bare-metal (PXE, Equinix Metal) images. Every template
// runs the same bake script as `kisgen image build` (image.BakeScript) with the plan's
// pinned binaries (etcd, etcdctl, kube-*, kubectl) and container image archives, each with
// the sha256 from the plan's mirror.checksums (or the site's sums file, read at bake time),
// so the baked image's manifest (/etc/kisgen/image-manifest.json) lists them and a node's
// bootstrap installs nothing: it configures and starts (status.json installPath "baked").
//
// Templates are built as HCL syntax trees (hclwrite) from typed values: every string that
// comes from the plan is escaped by the writer, never pasted into text.
//
// Who can read what the templates hold: the templates and the build VM's seed carry no
// secret. The build SSH key (build-key, 0600 beside the templates) logs into throwaway
// build VMs only, and its user is deleted before the image is saved. vSphere credentials
// come from govc's environment variables at build time (GOVC_URL, GOVC_USERNAME,
// GOVC_PASSWORD), AWS credentials from the AWS SDK's usual chain; neither is written.
package packer
