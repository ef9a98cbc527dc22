package mirror

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// imageBuilders are the cluster images Build packs from binaries built from the Go module
// proxy, by roles.ClusterImage component: the project, the version the plan pins and the
// binary that is the image's entrypoint.
var imageBuilders = map[string]struct {
	project string
	version func(*plan.Plan) string
	build   builder
	binary  string
}{
	roles.ImageCoreDNS: {binbuild.ProjectCoreDNS, func(p *plan.Plan) string { return p.Versions.CoreDNS }, binbuild.CoreDNS, "coredns"},
	roles.ImageMetricsServer: {binbuild.ProjectMetricsServer, func(p *plan.Plan) string { return p.Versions.MetricsServer },
		binbuild.MetricsServer, "metrics-server"},
}

// writeClusterImages writes an archive of each image of roles.ClusterImages(p) that Build
// can make (CoreDNS, metrics-server) at its Archive path, tagged with its exact upstream
// reference. Each image is the one static binary as /NAME, its entrypoint, like the
// upstream distroless images minus their CA bundle (neither talks to the internet). It
// returns the archives written, by mirror path.
func writeClusterImages(ctx context.Context, p *plan.Plan, opts Options) ([]string, error) {
	var written []string
	for _, img := range roles.ClusterImages(p) {
		ib, ok := imageBuilders[img.Component]
		if !ok {
			continue
		}
		dir, err := cachedBuild(ctx, opts, ib.project, ib.version(p), ib.build)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(dir, ib.binary))
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := WriteImageArchive(&buf, ImageSpec{Ref: img.Ref, Entrypoint: []string{"/" + ib.binary},
			Files: []ArchiveFile{{Name: ib.binary, Mode: 0o755, Data: data}}}); err != nil {
			return nil, err
		}
		if err := writeIfChanged(filepath.Join(opts.Out, filepath.FromSlash(img.Archive)), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintf(opts.Log, "mirror: %s (%s)\n", img.Archive, img.Ref)
		written = append(written, img.Archive)
	}
	return written, nil
}
