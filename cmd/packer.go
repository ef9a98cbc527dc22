package cmd

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/packer"
	"github.com/kisgen/kisgen/plan"
)

func newPackerCmd() *cobra.Command {
	var file, out, cache string
	var builders []string
	var strict bool
	c := &cobra.Command{
		Use:   "packer",
		Short: "Write Packer templates that bake node images",
		Long: `Write Packer HCL2 templates that bake the plan's node images: one directory per
builder and operating system of the plan — amazon-ebs for AWS, vsphere-clone for vSphere,
qemu for local VMs and bare-metal images (PXE, Equinix Metal) — each holding
kisgen.pkr.hcl, the bake script (the same as ` + "`kisgen image build`" + `) and the build
VM's cloud-init seed; a build SSH key (build-key, 0600) is created once beside them.

The bake script installs etcd, etcdctl, the Kubernetes binaries and the plan's image
archives from the plan's mirror, each checked against its sha256 from mirror.checksums
(or the site's sums file at bake time), and lists them in the image manifest
/etc/kisgen/image-manifest.json. Nodes booted from the baked image find everything there:
their user-data only configures and starts, and ` + "`kisgen verify`" + ` shows "binaries: baked".

Running it again with the same plan writes the same bytes. See docs/packer.md.`,
		Example: `  kisgen packer -f kismatic-cluster.yaml --out packer/
  packer build -force -var accelerator=tcg packer/qemu-debian-12/
  kisgen packer -f examples/minimal.yaml --builder qemu --builder amazon-ebs`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadPlan(c.ErrOrStderr(), file, strict)
			if err != nil {
				return err
			}
			sums, err := packer.LoadChecksums(p)
			if err != nil {
				return failed(err)
			}
			key, err := packer.LoadOrCreateBuildKey(out)
			if err != nil {
				return failed(err)
			}
			images, err := cachedir.Images(cache)
			if err != nil {
				return failed(err)
			}
			res, err := packer.Generate(p, packer.Options{Out: out, Builders: builders, Checksums: sums, BuildKey: key, BaseImages: images})
			if res != nil && len(res.Report.Findings) > 0 {
				src, _ := plan.ReadSource(file) // capped: the file was a plan a moment ago, but may have grown
				_ = res.Report.WriteText(c.ErrOrStderr(), src)
			}
			if err != nil {
				return failed(err)
			}
			if err := packer.Write(res, out); err != nil {
				return failed(err)
			}
			w := c.OutOrStdout()
			for _, t := range res.Templates {
				var names []string
				for _, b := range t.Binaries {
					names = append(names, b.Name)
				}
				fmt.Fprintf(w, "%s: %d binaries (%s), %d image archives\n", filepath.Join(out, t.Name, packer.TemplateFile), len(t.Binaries), strings.Join(names, ", "), len(t.Archives))
				for _, n := range t.Notes {
					fmt.Fprintf(w, "  %s\n", n)
				}
			}
			fmt.Fprintf(w, "build key: %s (logs into build VMs only; its user is deleted before the image is saved)\n", filepath.Join(out, packer.BuildKeyFile))
			fmt.Fprintf(w, "next: packer validate DIR && packer build -force DIR (see docs/packer.md)\n")
			return nil
		},
	}
	addPlanFlag(c, &file)
	c.Flags().StringVar(&out, "out", "packer", "output directory: one sub-directory per template")
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage+"; the qemu templates' base image is CACHE/images/OS")
	c.Flags().StringSliceVar(&builders, "builder", nil, "builder to write ("+strings.Join(packer.Builders(), ", ")+"); default: the one the plan's provider uses")
	c.Flags().BoolVar(&strict, "strict", false, "treat plan warnings as errors")
	return c
}
