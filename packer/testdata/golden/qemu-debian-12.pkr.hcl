# Packer template written by `kisgen packer` from plan minimal (kismatic-cluster.yaml): a qemu image of debian-12 for kisgen nodes.
# Do not edit: run `kisgen packer` again after changing the plan.
#
# It runs kisgen's bake script (bake.sh, the same as `kisgen image build`) with the plan's binaries and
# image archives, each checked against its sha256, so nodes booted from the image download nothing:
# the image manifest /etc/kisgen/image-manifest.json lists them and the node's bootstrap uses them.
#   etcd v3.7.3: etcd, etcdctl
#   containerd v2.4.2: containerd, containerd-shim-runc-v2, ctr
#   runc v1.5.3: runc
#   cni-plugins v1.10.0: bridge, host-local, loopback, portmap
#   kube-apiserver v1.37.2: kube-apiserver
#   kube-controller-manager v1.37.2: kube-controller-manager
#   kube-scheduler v1.37.2: kube-scheduler
#   kubectl v1.37.2: kubectl
#   kubelet v1.37.2: kubelet
#   kube-proxy v1.37.2: kube-proxy
#   calicoctl v3.32.1: calicoctl
#   image archive images/pause.tar
#   calico-manifest v3.32.1: not baked (a file the add-ons apply, fetched by the first master)
#
# Build: packer build -force [-var accelerator=tcg] qemu-debian-12/ then set provider.qemu.image: debian-12-baked

variable "mirror_url" {
  type        = string
  default     = "http://10.0.2.2:8080"
  description = "base URL of the kisgen mirror the build machine downloads from (`kisgen mirror serve`); the plan's mirror.url; in the build VM's user network 10.0.2.2 is this machine's loopback"
}

variable "base_image" {
  type        = string
  default     = ""
  description = "directory of the base image (`kisgen image build --os debian-12`: vmlinuz, initrd.img, rootfs.qcow2); empty: .cache/images/debian-12 beside the plan"
}

variable "output_directory" {
  type        = string
  default     = ""
  description = "directory of the baked image; empty: .cache/images/debian-12-baked beside the plan, where provider.qemu.image: debian-12-baked finds it"
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "kvm where /dev/kvm works, else tcg (emulation, many times slower)"
}

variable "cpus" {
  type        = number
  default     = 2
  description = "build VM processors"
}

variable "memory" {
  type        = number
  default     = 2048
  description = "build VM memory in MiB"
}

variable "console_log" {
  type        = string
  default     = "/dev/null"
  description = "file that receives the build VM's serial console"
}

locals {
  binaries = [
    "etcd|v3.7.3|tar|github.com/etcd-io/etcd/releases/download/v3.7.3/etcd-v3.7.3-linux-amd64.tar.gz|387aa7c62b3909b8d83762c0758b53d57743e826d36efc6cebcd2ea83fee102f|-|etcd-v3.7.3-linux-amd64/etcd=etcd,etcd-v3.7.3-linux-amd64/etcdctl=etcdctl|/opt/kisgen/bin",
    "containerd|v2.4.2|tar|github.com/containerd/containerd/releases/download/v2.4.2/containerd-2.4.2-linux-amd64.tar.gz|9d77598ff9df9988ff4885a6af11ce5bc9d281c4f2532d6d6181fb971622135f|-|bin/containerd=containerd,bin/containerd-shim-runc-v2=containerd-shim-runc-v2,bin/ctr=ctr|/opt/kisgen/bin",
    "runc|v1.5.3|file|github.com/opencontainers/runc/releases/download/v1.5.3/runc.amd64|9281b35da241a6d54c702bc1ab0ff4c0f55f9ad8e7aa31897cd079ed001cebe0|-|runc|/opt/kisgen/bin",
    "cni-plugins|v1.10.0|dirtar|github.com/containernetworking/plugins/releases/download/v1.10.0/cni-plugins-linux-amd64-v1.10.0.tgz|2c3c790befba36785dd97927d26f950ca6a166afe44c4cf5a9fc5c1f7fb3649e|-|bridge,host-local,loopback,portmap|/opt/cni/bin",
    "kube-apiserver|v1.37.2|file|dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-apiserver|2bb5d6eabeda19822c7399fddec26643aaa753e010a31218c16ded72e3a9fa34|-|kube-apiserver|/opt/kisgen/bin",
    "kube-controller-manager|v1.37.2|file|dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-controller-manager|bf3d9ee0efb18aefd12b460c81db0eeedfa8acefa81502e3a9d867d78e1c7ed3|-|kube-controller-manager|/opt/kisgen/bin",
    "kube-scheduler|v1.37.2|file|dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-scheduler|61d97993f44c446f9086e191dbf071c33d9146989c42d4325a283e857da7b2e3|-|kube-scheduler|/opt/kisgen/bin",
    "kubectl|v1.37.2|file|dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubectl|9a9f22c52444ea38932a77565c1337ef8beaa139753cd5c815c19f665aa2de69|-|kubectl|/opt/kisgen/bin",
    "kubelet|v1.37.2|file|dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet|203571fa5d9af0dee9f1c6dc8b58714f64e3b2cb6063dabf264789b1c5a4c2ec|-|kubelet|/opt/kisgen/bin",
    "kube-proxy|v1.37.2|file|dl.k8s.io/release/v1.37.2/bin/linux/amd64/kube-proxy|9768efa4e4c187dd115a929a3fde8476136aa832d17c3680ffea000349d22b9a|-|kube-proxy|/opt/kisgen/bin",
    "calicoctl|v3.32.1|file|github.com/projectcalico/calico/releases/download/v3.32.1/calicoctl-linux-amd64|68f89b277d0621e9750b0bf01b31085acdefda1272e799744cef5b3988f9a790|-|calicoctl|/opt/kisgen/bin",
  ]
  image_archives   = ["images/pause.tar|7183aab84e24c790eabdbb8b20c22e6b7d7e80455652c0f08730d27dbfd9f0be"]
  base_image       = var.base_image != "" ? var.base_image : "${path.root}/../../.cache/images/debian-12"
  output_directory = var.output_directory != "" ? var.output_directory : "${path.root}/../../.cache/images/debian-12-baked"
  cpu_model        = var.accelerator == "kvm" ? "host" : "max"
}

source "qemu" "debian-12" {
  disk_image       = true
  iso_url          = "${local.base_image}/rootfs.qcow2"
  iso_checksum     = "none"
  use_backing_file = false
  skip_resize_disk = true
  format           = "qcow2"
  vm_name          = "rootfs.qcow2"
  output_directory = local.output_directory
  accelerator      = var.accelerator
  cpus             = var.cpus
  memory           = var.memory
  headless         = true
  disk_interface   = "virtio"
  disk_discard     = "unmap"
  net_device       = "virtio-net"
  http_directory   = "${path.root}/http"
  qemuargs = [
    ["-kernel", "${local.base_image}/vmlinuz"],
    ["-initrd", "${local.base_image}/initrd.img"],
    ["-append", "root=/dev/vda rw console=ttyS0 ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/"],
    ["-cpu", local.cpu_model],
    ["-serial", "file:${var.console_log}"],
  ]
  communicator         = "ssh"
  ssh_username         = "kisgen-build"
  ssh_private_key_file = "${path.root}/../build-key"
  ssh_timeout          = "30m"
  shutdown_command     = "sudo sh -c 'cloud-init clean --logs --seed; rm -f /etc/sudoers.d/90-cloud-init-users; userdel -f -r kisgen-build 2>/dev/null || true; fstrim -a || true; shutdown -P now'"
  shutdown_timeout     = "10m"
}

build {
  name    = "kisgen-minimal-debian-12"
  sources = ["source.qemu.debian-12"]

  # kisgen's node files that read no plan (scripts, add-on bases), each named by its sha256
  provisioner "file" {
    source      = "${path.root}/kisgen-files.tar"
    destination = "/tmp/kisgen-files.tar"
  }

  # the bake script, as root, with the pinned binaries and image archives and kisgen's files
  provisioner "shell" {
    script          = "${path.root}/bake.sh"
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
    environment_vars = [
      "KISGEN_OS=debian-12",
      "KISGEN_DATASOURCES=NoCloud, None",
      "KISGEN_MIRROR_URL=${var.mirror_url}",
      "KISGEN_BINARIES=${join(" ", local.binaries)}",
      "KISGEN_IMAGE_ARCHIVES=${join(" ", local.image_archives)}",
      "KISGEN_FILES=/tmp/kisgen-files.tar",
    ]
  }

  # the manifest beside the disk: `kisgen` reads it from the image directory
  provisioner "file" {
    direction   = "download"
    source      = "/etc/kisgen/image-manifest.json"
    destination = "${local.output_directory}/image-manifest.json"
  }

  # an image directory as `kisgen image build` makes: the base image's kernel and initrd, the baked
  # disk, and a build id from the disk's content (provider.qemu.image: debian-12-baked)
  post-processor "shell-local" {
    environment_vars = [
      "BASE=${local.base_image}",
      "OUT=${local.output_directory}",
      "KISGEN_OS=debian-12",
    ]
    inline = [
      "cp -L \"$BASE/vmlinuz\" \"$OUT/vmlinuz\"",
      "cp -L \"$BASE/initrd.img\" \"$OUT/initrd.img\"",
      "echo \"$KISGEN_OS-$(sha256sum \"$OUT/rootfs.qcow2\" | cut -c1-16)\" > \"$OUT/build-id\"",
    ]
  }
}
