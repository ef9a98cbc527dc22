package mirror

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

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
		if img.Component == roles.ImageDeclaredPorts {
			if err := writeDeclaredPorts(ctx, img, opts); err != nil {
				return nil, err
			}
			written = append(written, img.Archive)
			continue
		}
		ib, ok := imageBuilders[img.Component]
		if !ok {
			continue
		}
		dir, err := cachedBuild(ctx, opts, ib.project, ib.version(p), ib.build)
		if err != nil {
			return nil, err
		}
		if img.Component == roles.ImageCoreDNS {
			if err := checkCoreDNSPlugins(ctx, filepath.Join(dir, ib.binary)); err != nil {
				return nil, err
			}
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

// declaredPortsUID is the user the declared-ports controller runs as (nobody of its own:
// the image has no /etc/passwd; the Deployment sets runAsUser to the same number).
const declaredPortsUID = 65532

// writeDeclaredPorts builds kisgen's declared-ports controller (roles/declaredports) and
// packs it as img's archive: the one static binary as /declared-ports, its entrypoint,
// run as an unprivileged user.
func writeDeclaredPorts(ctx context.Context, img roles.ClusterImage, opts Options) error {
	data, err := embeddedBinary(ctx, roles.ImageDeclaredPorts, roles.DeclaredPortsSource, opts.CacheDir, opts.Log)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := WriteImageArchive(&buf, ImageSpec{Ref: img.Ref, Entrypoint: []string{"/" + roles.ImageDeclaredPorts},
		User: fmt.Sprint(declaredPortsUID), Files: []ArchiveFile{{Name: roles.ImageDeclaredPorts, Mode: 0o755, Data: data}}}); err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(opts.Out, filepath.FromSlash(img.Archive)), buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "mirror: %s (%s, kisgen's declared-ports controller)\n", img.Archive, img.Ref)
	return nil
}

// checkCoreDNSPlugins runs the CoreDNS binary the mirror packs (`coredns -plugins`) and
// fails unless it has a plugin for every directive of the Corefile kisgen deploys: CoreDNS
// is built with a chosen set of plugins (binbuild.CoreDNSPlugins), and a directive it
// lacks would only show on the nodes, as a crash-looping CoreDNS.
func checkCoreDNSPlugins(ctx context.Context, binary string) error {
	corefile, err := roles.Corefile()
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, binary, "-plugins").Output()
	if err != nil {
		return fmt.Errorf("%s -plugins: %w", binary, err)
	}
	have := map[string]bool{}
	for _, name := range strings.Fields(string(out)) {
		have[name] = true
	}
	var missing []string
	for _, d := range roles.CorefileDirectives(corefile) {
		if !have[d] {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s lacks the plugins %s that kisgen's Corefile uses: add them to binbuild.CoreDNSPlugins and remove %s to rebuild",
			ErrBuild, binary, strings.Join(missing, ", "), filepath.Dir(binary))
	}
	return nil
}
