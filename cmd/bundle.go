package cmd

import (
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/pxe"
)

func newBundleCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "bundle",
		Short: "Export a PXE boot bundle for bare metal",
	}
	c.AddCommand(newBundlePXECmd())
	return c
}

func newBundlePXECmd() *cobra.Command {
	var (
		file, userdata, imageDir, cache string
		tarball                         bool
		images                          map[string]string
		opts                            pxe.Options
	)
	c := &cobra.Command{
		Use:   "pxe",
		Short: "Write a self-contained network-boot bundle for the plan's machines",
		Long: `Write everything the plan's bare-metal machines need to boot over the network into
one directory (and, with --tar, a deterministic DIR.tar.gz):

  ipxe/MAC.ipxe            each node's iPXE script, chosen by its MAC (the plan's mac:):
                           its disk, or its install when the disk does not boot
  ipxe/install/HOST.ipxe   the node's install: writes its os's image and GRUB to its disk
  ipxe/boot.ipxe           the script firmware fetches first; chains to the node's
  assets/OS/               each operating system's kernel, initrd and root file system
  assets/install.cpio      the installer, an initrd; assets/boot/HOST.cpio, its disk's
                           partition table and GRUB
  nocloud/HOST/            each node's user-data, meta-data and vendor-data (cloud-init)
  ignition/HOST.ign        each node's Ignition config (Flatcar, Fedora CoreOS)
  tftp/                    undionly.kpxe and ipxe.efi for PXE firmware to chainload
  dnsmasq/dnsmasq.conf     DHCP reservations (MAC -> ip, host) and TFTP
  dnsmasq/dnsmasq-proxy.conf  the same for a network that keeps its DHCP server
  mirror/                  the binaries mirror, with --mirror, for installs offline

Serve it with 'kisgen serve pxe DIR' at the plan's provider.pxe.http_url. Each node
boots the kernel and initrd of its own operating system's image (--image OS=DIR, else
what 'kisgen image build --os OS' made). A new machine's first boot installs that image to its
disk (--root, default /dev/sda: partition 1 of machine.disk_gb, GRUB in the MBR) and
reboots; later boots come from the disk, without the server. BIOS firmware only.
--no-install keeps the old way: every boot over the network, root= on a disk that
holds the image already.

Anyone who can reach the HTTP server on the provisioning network can try to read the
nodes' user-data, which holds their private keys: the server answers it only to each
node's own address.`,
		Example: `  kisgen render && kisgen bundle pxe --out bundle/ --tar
  kisgen bundle pxe -f rack1.yaml --out bundle/ --mirror mirror/ --root /dev/nvme0n1`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadPlan(c.ErrOrStderr(), file, false)
			if err != nil {
				return err
			}
			if len(p.Nodes) == 0 {
				return failed(fmt.Errorf("%s has no nodes", file))
			}
			dir := userdata
			if dir == "" {
				dir = filepath.Join(filepath.Dir(file), "userdata")
			}
			machines, err := providers.LoadMachines(p, dir)
			if err != nil {
				return failed(err)
			}
			// Each os's image from the per-user cache, unless the command line names one.
			if opts.Images, err = pxe.ImagesFor(machines, cache); err != nil {
				return failed(err)
			}
			if imageDir != "" {
				if len(opts.Images) > 1 {
					return usageError("the plan's nodes run several operating systems: --image-dir names one image; give each with --image OS=DIR")
				}
				for os := range opts.Images {
					opts.Images[os] = imageDir
				}
			}
			for os, d := range images {
				if _, ok := opts.Images[os]; !ok {
					return usageError("--image %s=%s: no node of the plan runs %s", os, d, os)
				}
				opts.Images[os] = d
			}
			opts.Progress = c.ErrOrStderr()
			opts.Protect = append(protectedPaths(p, file, stateDir("", file)),
				outdir.Protected{Path: dir, What: "the user-data the bundle is made from"},
				outdir.Protected{Path: opts.Mirror, What: "the mirror the bundle serves"})
			res, err := pxe.Build(p, machines, opts)
			if err != nil {
				return failed(err)
			}
			out := c.OutOrStdout()
			fmt.Fprintf(out, "bundle for cluster %s in %s\n", p.Name, res.Dir)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tMAC\tIP\tFORMAT\tSCRIPT")
			for _, n := range res.Manifest.Nodes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tipxe/%s.ipxe\n", n.Host, n.MAC, n.IP, n.Format, pxe.HexHyp(n.MAC))
			}
			tw.Flush()
			if tarball {
				path := strings.TrimRight(res.Dir, "/") + ".tar.gz"
				if err := pxe.WriteTarGzFile(path, res.Dir); err != nil {
					return failed(err)
				}
				fmt.Fprintf(out, "archive: %s\n", path)
			}
			fmt.Fprintf(out, "next: dnsmasq --no-daemon --conf-file=%s (or dnsmasq-proxy.conf beside an existing DHCP server)\n", filepath.Join(res.Dir, "dnsmasq", "dnsmasq.conf"))
			fmt.Fprintf(out, "      kisgen serve pxe %s   (reachable at %s), then power the machines on\n", res.Dir, res.Manifest.HTTPURL)
			return nil
		},
	}
	addPlanFlag(c, &file)
	f := c.Flags()
	f.StringVar(&opts.Out, "out", "bundle", "bundle directory; replaced as a whole, so it must be new, empty or kisgen's bundle of this cluster, outside the state directory, the plan and its key")
	f.BoolVar(&tarball, "tar", false, "also write OUT.tar.gz (deterministic)")
	f.StringVar(&userdata, "userdata", "", "directory 'kisgen render' wrote (default: userdata/ beside the plan)")
	f.StringVar(&imageDir, "image-dir", "", "image directory with vmlinuz, initrd.img and rootfs.qcow2, for a plan of one operating system (default: CACHE/images/OS, what 'kisgen image build' writes)")
	f.StringToStringVar(&images, "image", nil, "OS=DIR: the image directory of one of the plan's operating systems (repeatable; default: CACHE/images/OS)")
	f.StringVar(&cache, "cache", "", cachedir.FlagUsage)
	f.StringVar(&opts.Kernel, "kernel", "", "kernel to boot, for a plan of one operating system (default: the image's vmlinuz)")
	f.StringVar(&opts.Initrd, "initrd", "", "initrd to boot, for a plan of one operating system (default: the image's initrd.img)")
	f.StringVar(&opts.Root, "root", pxe.DefaultRoot, "the machines' disk: the install writes the image there (with --no-install: the root= disk, which holds the image already; \"\" to give root= in --kernel-args)")
	f.BoolVar(&opts.NoInstall, "no-install", false, "install nothing: every boot comes over the network, with root= on a disk that holds the image already")
	f.StringVar(&opts.GrubDir, "grub-dir", pxe.DefaultGrubDir, "GRUB's BIOS boot sector and modules, which make the installed disks bootable (Debian's grub-pc-bin)")
	f.StringVar(&opts.KernelArgs, "kernel-args", pxe.DefaultKernelArgs, "more kernel arguments for every node")
	f.StringVar(&opts.Mirror, "mirror", "", "directory 'kisgen mirror build' wrote, to serve from the bundle")
	f.StringVar(&opts.IPXEDir, "ipxe-dir", pxe.DefaultIPXEDir, "directory with undionly.kpxe and ipxe.efi (Debian's ipxe package)")
	return c
}
