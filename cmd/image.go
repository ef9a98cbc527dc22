package cmd

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/cachedir"
)

func newImageCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "image",
		Short: "Build local VM images",
		Long: `Build the VM images the qemu provider boots. Images are made from Debian's packages
with mmdebstrap and customised by kisgen's bake script — the same script the Packer
templates run — and cached by content.`,
	}
	c.AddCommand(newImageBuildCmd())
	return c
}

func newImageBuildCmd() *cobra.Command {
	var opts image.Options
	var cache string
	c := &cobra.Command{
		Use:   "build",
		Short: "Bake a local VM image (vmlinuz, initrd.img, rootfs.qcow2)",
		Long: `Bake a local VM image with mmdebstrap from Debian's packages: kernel, systemd,
cloud-init (NoCloud), openssh-server, containerd, runc, the CNI plugins, conntrack,
iptables and the rest of what a kisgen node needs (` + "`kisgen image build --packages`" + ` lists
them). No root-only loop mounts: the root file system is written with mkfs.ext4 -d and
converted to qcow2; VMs boot its kernel directly.

The build is cached by content (bake script, packages, operating system, size, apt
mirror) in CACHE/images/builds, one per-user cache that every plan and checkout shares
(--cache, else $KISGEN_CACHE, else $XDG_CACHE_HOME/kisgen, else ~/.cache/kisgen); an
unchanged build takes a second. The result is published in --out, by default
CACHE/images/OS, where the qemu provider finds provider.qemu.image: OS.`,
		Example: `  kisgen image build --os debian-12
  kisgen image build --os debian-12 --out /var/lib/kisgen/images/debian-12 -v`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if list, _ := c.Flags().GetBool("packages"); list {
				fmt.Fprintln(c.OutOrStdout(), strings.Join(image.Packages(), "\n"))
				return nil
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt)
			defer stop()
			opts.Log = c.ErrOrStderr()
			var err error
			if opts.CacheDir, err = cachedir.Images(cache); err != nil {
				return failed(err)
			}
			t0 := time.Now()
			img, err := image.Build(ctx, opts)
			if err != nil {
				return failed(err)
			}
			how := "built"
			if img.Cached {
				how = "cached"
			}
			fmt.Fprintf(c.OutOrStdout(), "image %s %s in %s: %s\n", img.BuildID, how, time.Since(t0).Round(time.Second), img.Dir)
			return nil
		},
	}
	c.Flags().StringVar(&opts.OS, "os", "debian-12", "operating system ("+strings.Join(image.SupportedOS(), ", ")+")")
	c.Flags().StringVar(&opts.Out, "out", "", "output directory (default: CACHE/images/OS, where the qemu provider looks)")
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage)
	c.Flags().StringVar(&opts.AptMirror, "apt-mirror", image.DefaultAptMirror, "Debian archive to install from")
	c.Flags().IntVar(&opts.SizeGB, "size", image.DefaultSizeGB, "root file system size in GiB (sparse)")
	c.Flags().BoolVar(&opts.Rebuild, "rebuild", false, "ignore a cached build")
	c.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "show mmdebstrap's output")
	c.Flags().Bool("packages", false, "list the Debian packages the image holds and exit")
	return c
}
