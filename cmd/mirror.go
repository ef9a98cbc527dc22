package cmd

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/mirror"
	"github.com/kisgen/kisgen/plan"
)

func newMirrorCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "mirror",
		Short: "Build and serve the binaries nodes download",
		Long: `A mirror holds what nodes download while they install themselves — etcd and the
Kubernetes binaries at the plan's versions, and air-gapped container image archives —
in the official download sites' path layout under a first segment naming the site:

  DIR/dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet (+ kubelet.sha256)
  DIR/github.com/etcd-io/etcd/releases/download/v3.7.3/etcd-v3.7.3-linux-amd64.tar.gz (+ SHA256SUMS)
  DIR/images/*.tar
  DIR/SHA256SUMS

Point the plan at it with mirror.url (the URL DIR is served at) and mirror.checksums
(DIR/SHA256SUMS, relative to the plan) so every sum is pinned in the user-data.`,
	}
	c.AddCommand(newMirrorBuildCmd(), newMirrorServeCmd())
	return c
}

func newMirrorBuildCmd() *cobra.Command {
	var file, cache string
	opts := mirror.Options{}
	c := &cobra.Command{
		Use:   "build",
		Short: "Build the plan's binaries from the Go module proxy into a mirror directory",
		Long: `Build etcd, etcdctl, kube-apiserver, kube-controller-manager, kube-scheduler,
kubelet, kube-proxy and kubectl at the plan's versions from the Go module proxy and lay
them out as the official download sites do, with their checksum files and a top-level
SHA256SUMS. Builds are cached per version in CACHE/bin, one per-user cache that every
plan and checkout shares (--cache, else $KISGEN_CACHE, else $XDG_CACHE_HOME/kisgen, else
~/.cache/kisgen): a cold build takes about 20 minutes on 2 cores, a cached one seconds.

With Calico, its release is built from source tarballs (the Go module proxy does not
serve it): --sources DIR (or $KISGEN_SOURCES) must hold calico-v3.32.1.tar.gz and
calico-bird-1e2ff99d.tar.gz, checked against their pinned sums. calicoctl, the release's
calico.yaml and the calico/node, calico/cni and calico/kube-controllers image archives
(images/calico-*-VERSION.tar, tagged as calico.yaml names them) go into the mirror;
calico/node's root file system is built from Debian's packages with mmdebstrap. A cold
Calico build takes about 15 minutes on 2 cores.

Image archives the plan lists in mirror.image_archives must be saved under the mirror
directory first; they are summed, not built. The exception is --pause-image: kisgen's own
pause image (a static Go binary that holds a pod's namespaces and reaps children, as
registry.k8s.io/pause does), tagged as the plan's sandbox image, for labs that cannot copy
the real one.

--conformance also builds what 'kisgen conformance run' needs: Kubernetes' e2e suite
(e2e.test of the plan's version, into the cache: about 8 minutes cold on 2 cores, little
once Kubernetes is built) and the images its specs run (agnhost from the same source,
glibc-dns-testing, nginx, busybox, nonroot on Debian root file systems, and the suite's
pause tag), as images/e2e-*.tar tagged as the suite names them. List them in
mirror.image_archives ('kisgen plan --image-archives cluster,conformance'); e2e images the
plan lists are built without the flag. See docs/conformance.md.`,
		Example: `  kisgen mirror build --out mirror/
  kisgen mirror build -f examples/ha.yaml --out /srv/kisgen-mirror --cache /var/cache/kisgen`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := loadPlanForMirror(c.ErrOrStderr(), file)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.Log = c.ErrOrStderr()
			if opts.CacheDir, err = cachedir.Bin(cache); err != nil {
				return failed(err)
			}
			t0 := time.Now()
			res, err := mirror.Build(ctx, p, opts)
			if err != nil {
				return failed(err)
			}
			var total int64
			for _, f := range res.Files {
				total += f.Size
			}
			fmt.Fprintf(c.OutOrStdout(), "mirror %s: %d files, %d MiB, in %s; checksums: %s\n", opts.Out, len(res.Files), total>>20,
				time.Since(t0).Round(time.Second), res.Checksums)
			for _, m := range res.NotMirrored {
				fmt.Fprintf(c.OutOrStdout(), "  not in the mirror: %s\n", m)
			}
			if res.E2ETest != "" {
				fmt.Fprintf(c.OutOrStdout(), "  e2e suite (for kisgen conformance run, not in the mirror): %s\n", res.E2ETest)
			}
			if unlisted := unlistedArchives(p, res.E2EImages); len(unlisted) > 0 {
				fmt.Fprintf(c.OutOrStdout(), "  e2e images the plan's mirror.image_archives does not list (nodes will not import them): %s\n", strings.Join(unlisted, " "))
			}
			return nil
		},
	}
	addPlanFlag(c, &file)
	c.Flags().StringVar(&opts.Out, "out", "mirror", "mirror directory")
	c.Flags().StringVar(&cache, "cache", "", cachedir.FlagUsage)
	c.Flags().StringVar(&opts.Sources, "sources", "", "directory of the Calico and BIRD source tarballs Calico is built from (default $"+mirror.SourcesEnv+")")
	c.Flags().BoolVar(&opts.Conformance, "conformance", false, "also build Kubernetes' e2e suite (e2e.test, into the cache) and its images (images/e2e-*.tar) for kisgen conformance run")
	c.Flags().BoolVar(&opts.PauseImage, "pause-image", false, "also write kisgen's own pause image as images/pause-VERSION.tar (for air-gapped labs; list it in mirror.image_archives)")
	return c
}

// unlistedArchives are the archives of written that p's mirror.image_archives leaves out.
func unlistedArchives(p *plan.Plan, written []string) []string {
	var out []string
	for _, a := range written {
		if !slices.Contains(p.Mirror.ImageArchives, a) {
			out = append(out, a)
		}
	}
	return out
}

// loadPlanForMirror loads the plan like every command, except that a mirror.checksums
// file that does not exist yet is no error: mirror build is what writes it.
func loadPlanForMirror(errOut io.Writer, file string) (*plan.Plan, error) {
	p, rep, src, err := plan.LoadSource(file)
	if err != nil {
		return nil, failed(err)
	}
	plan.ForgiveUnbuiltChecksums(rep)
	if len(rep.Findings) > 0 {
		_ = rep.WriteText(errOut, src)
	}
	if rep.IsFatal(false) {
		return nil, failed(fmt.Errorf("%w: %s: %s", plan.ErrInvalid, file, rep.Summary()))
	}
	return p, nil
}

func newMirrorServeCmd() *cobra.Command {
	var dir, listen string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve a mirror directory over HTTP",
		Long: `Serve a mirror directory read-only over HTTP with one access log line per request,
until interrupted; downloads in flight get 30 seconds to finish.

For the qemu provider, listen on loopback and set the plan's mirror.url to
http://10.0.2.100:PORT: each VM reaches 10.0.2.100:PORT through its user network and
the provider forwards it to 127.0.0.1:PORT on this machine.

Only files are served: no directory listings, and nothing whose path has a segment
starting with a dot.

` + serverLimitsHelp,
		Example: `  kisgen mirror serve --dir mirror --listen 127.0.0.1:8080`,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := mirror.Serve(ctx, dir, listen, c.ErrOrStderr()); err != nil {
				return failed(err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", "mirror", "mirror directory")
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "address to listen on")
	return c
}
