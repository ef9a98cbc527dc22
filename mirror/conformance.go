package mirror

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/kisgen/kisgen/image"
	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// E2EImagesOS is the Debian release the e2e images' root file systems are built from.
// Upstream builds agnhost on Alpine and glibc-dns-testing on Debian bookworm (12); no
// Alpine archive is reachable from kisgen's build machines, so every image is Debian's.
const E2EImagesOS = "debian-12"

// E2E image root file systems: Debian's Essential set plus these packages, the Debian
// names of what each upstream Dockerfile installs (test/images/*/Dockerfile).
var (
	// AgnhostPackages: bind-tools (dig), curl, netcat-openbsd, iproute2 (ss), iperf,
	// bash, util-linux-misc (ipcs) and socat, which agnhost's specs run in its image.
	AgnhostPackages = []string{"bind9-dnsutils", "curl", "iperf", "iproute2", "netcat-openbsd", "socat", "util-linux"}
	// GlibcDNSTestingPackages: dnsutils, as glibc-dns-testing installs on bookworm-slim.
	GlibcDNSTestingPackages = []string{"bind9-dnsutils"}
	// NginxPackages: Debian's nginx stands in for nginx:1.27-alpine; the specs only need
	// a web server on port 80 (Debian's default site).
	NginxPackages = []string{"nginx"}
	// BusyBoxPackages: Debian's static BusyBox, the one binary of the busybox and nonroot
	// images, with a link per applet as the upstream busybox image has.
	BusyBoxPackages = []string{"busybox-static"}
)

// E2EImageRootFS says how the root file system of an e2e image is built and cached
// (image.RootFSPath), by the image's component.
func E2EImageRootFS(component, cacheDir, aptMirror string) image.RootFSOptions {
	pkgs := map[string][]string{
		roles.ImageE2EAgnhost: AgnhostPackages, roles.ImageE2EGlibcDNSTesting: GlibcDNSTestingPackages,
		roles.ImageE2ENginx: NginxPackages, roles.ImageE2EBusyBox: BusyBoxPackages, roles.ImageE2ENonRoot: BusyBoxPackages,
	}[component]
	return image.RootFSOptions{OS: E2EImagesOS, Packages: pkgs, CacheDir: cacheDir, AptMirror: aptMirror}
}

// conformanceBuild is what Build needs to make the e2e suite's binary and images, made
// once per run.
type conformanceBuild struct {
	ctx  context.Context
	p    *plan.Plan
	opts Options
	// bins is the agnhost build's directory, once built.
	bins string
}

// wanted are the e2e images Build writes: all of them with opts.Conformance, else those
// the plan lists in mirror.image_archives (the nodes import them, so they must exist).
func (c *conformanceBuild) wanted() []roles.ConformanceImage {
	listed := map[string]bool{}
	for _, a := range c.p.Mirror.ImageArchives {
		listed[a] = true
	}
	var out []roles.ConformanceImage
	for _, img := range roles.ConformanceImages(c.p) {
		if c.opts.Conformance || listed[img.Archive] {
			out = append(out, img)
		}
	}
	return out
}

// e2eTest builds (or finds in the cache) the suite's e2e.test of the plan's Kubernetes
// version and returns its path.
func (c *conformanceBuild) e2eTest() (string, error) {
	dir, err := cachedBuild(c.ctx, c.opts, binbuild.ProjectE2ETest, c.p.Versions.Kubernetes, binbuild.E2ETest)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, binbuild.E2ETestBinary), nil
}

// images writes the archive of every wanted e2e image and returns their mirror paths.
func (c *conformanceBuild) images() ([]string, error) {
	var written []string
	for _, img := range c.wanted() {
		t0 := time.Now()
		var (
			data []byte
			err  error
		)
		if img.Component == roles.ImageE2EPause {
			// kisgen's own pause (mirror/pause), under the suite's tag.
			data, err = PauseArchive(c.ctx, img.Ref, c.opts.CacheDir, c.opts.Log)
		} else {
			var spec ImageSpec
			if spec, err = c.spec(img.Component); err == nil {
				spec.Ref, spec.Aliases, spec.GzipLayer = img.Ref, img.Aliases, true
				var buf bytes.Buffer
				err = WriteImageArchive(&buf, spec)
				data = buf.Bytes()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", img.Ref, err)
		}
		if err := writeIfChanged(filepath.Join(c.opts.Out, filepath.FromSlash(img.Archive)), data, 0o644); err != nil {
			return nil, err
		}
		also := ""
		if len(img.Aliases) > 0 {
			also = ", also " + strings.Join(img.Aliases, ", ")
		}
		fmt.Fprintf(c.opts.Log, "mirror: %s (%s%s, %d MiB, %s)\n", img.Archive, img.Ref, also, len(data)>>20, time.Since(t0).Round(time.Second))
		written = append(written, img.Archive)
	}
	return written, nil
}

// spec lays out the image of an e2e component.
func (c *conformanceBuild) spec(component string) (ImageSpec, error) {
	files, err := c.rootFS(component)
	if err != nil {
		return ImageSpec{}, err
	}
	switch component {
	case roles.ImageE2EAgnhost:
		return c.agnhost(files)
	case roles.ImageE2EGlibcDNSTesting:
		dns, err := c.coreDNS()
		if err != nil {
			return ImageSpec{}, err
		}
		return ImageSpec{Files: append(files, dns), Cmd: []string{"bash"}}, nil
	case roles.ImageE2ENginx:
		// nginx:alpine's command; Debian's package serves /var/www/html on port 80.
		return ImageSpec{Files: files, Cmd: []string{"nginx", "-g", "daemon off;"}}, nil
	case roles.ImageE2EBusyBox, roles.ImageE2ENonRoot:
		bb, err := c.busyBox(files)
		if err != nil {
			return ImageSpec{}, err
		}
		spec := ImageSpec{Files: bb, Cmd: []string{"sh"}}
		if component == roles.ImageE2ENonRoot {
			// test/images/nonroot: USER 1234, the only difference.
			spec.User = "1234"
		}
		return spec, nil
	}
	return ImageSpec{}, fmt.Errorf("no e2e image %s", component)
}

// rootFS reads the component's Debian root file system, building it the first time.
func (c *conformanceBuild) rootFS(component string) ([]ArchiveFile, error) {
	ro := E2EImageRootFS(component, c.opts.CacheDir, c.opts.AptMirror)
	ro.Log = c.opts.Log
	tarball, err := image.RootFS(c.ctx, ro)
	if err != nil {
		return nil, err
	}
	return ReadRootFS(tarball)
}

// agnhost is test/images/agnhost/Dockerfile on Debian: the tools on the root file
// system, /agnhost (and /agnhost-2, a link the entrypoint-tester specs call), the
// CoreDNS some DNS specs run as /coredns, the porter's TLS pair, /uploads for netexec,
// the user and group a SupplementalGroups spec expects, `agnhost pause` by default.
func (c *conformanceBuild) agnhost(files []ArchiveFile) (ImageSpec, error) {
	dir, err := c.agnhostBuild()
	if err != nil {
		return ImageSpec{}, err
	}
	var top []ArchiveFile
	for _, f := range []struct {
		src, dst string
		mode     int64
	}{{binbuild.AgnhostBinary, "agnhost", 0o755}, {binbuild.AgnhostCert, "localhost.crt", 0o644}, {binbuild.AgnhostKey, "localhost.key", 0o644}} {
		data, err := os.ReadFile(filepath.Join(dir, f.src))
		if err != nil {
			return ImageSpec{}, err
		}
		top = append(top, ArchiveFile{Name: f.dst, Mode: f.mode, Data: data})
	}
	dns, err := c.coreDNS()
	if err != nil {
		return ImageSpec{}, err
	}
	top = append(top, dns,
		ArchiveFile{Name: "agnhost-2", Type: tar.TypeSymlink, Linkname: "agnhost", Mode: 0o777},
		ArchiveFile{Name: "usr/local/bin/iperf", Type: tar.TypeSymlink, Linkname: "/usr/bin/iperf", Mode: 0o777},
		ArchiveFile{Name: "uploads", Type: tar.TypeDir, Mode: 0o755})
	// adduser -u 1000 user-defined-in-image; addgroup -g 50000 group-defined-in-image;
	// addgroup user-defined-in-image group-defined-in-image.
	files, err = appendLines(files, "etc/passwd", "user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh")
	if err != nil {
		return ImageSpec{}, err
	}
	files, err = appendLines(files, "etc/group", "user-defined-in-image:x:1000:", "group-defined-in-image:x:50000:user-defined-in-image")
	if err != nil {
		return ImageSpec{}, err
	}
	return ImageSpec{Files: overlay(files, top), Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}}, nil
}

// agnhostBuild builds agnhost from the plan's Kubernetes source once per run and checks
// that its version (the source's test/images/agnhost/VERSION) is the tag the suite asks
// for: a table of tags (roles.ConformanceImages) that drifted from the source would
// otherwise ship one agnhost under another's name.
func (c *conformanceBuild) agnhostBuild() (string, error) {
	if c.bins != "" {
		return c.bins, nil
	}
	dir, err := cachedBuild(c.ctx, c.opts, binbuild.ProjectE2EImages, c.p.Versions.Kubernetes, binbuild.E2EImages)
	if err != nil {
		return "", err
	}
	v, err := os.ReadFile(filepath.Join(dir, binbuild.AgnhostVersion))
	if err != nil {
		return "", err
	}
	for _, img := range roles.ConformanceImages(c.p) {
		if img.Component == roles.ImageE2EAgnhost && !strings.HasSuffix(img.Ref, ":"+strings.TrimSpace(string(v))) {
			return "", fmt.Errorf("%w: Kubernetes %s's agnhost is version %s, but kisgen tags it %s: correct the tags in roles/conformance_images.go",
				ErrBuild, c.p.Versions.Kubernetes, strings.TrimSpace(string(v)), img.Ref)
		}
	}
	c.bins = dir
	return dir, nil
}

// coreDNS is the plan's CoreDNS build as /coredns (upstream's images carry a CoreDNS
// release; the specs run it with a Corefile of the hosts and log plugins, which
// kisgen's build has: binbuild.CoreDNSPlugins).
func (c *conformanceBuild) coreDNS() (ArchiveFile, error) {
	dir, err := cachedBuild(c.ctx, c.opts, binbuild.ProjectCoreDNS, c.p.Versions.CoreDNS, binbuild.CoreDNS)
	if err != nil {
		return ArchiveFile{}, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "coredns"))
	if err != nil {
		return ArchiveFile{}, err
	}
	return ArchiveFile{Name: "coredns", Mode: 0o755, Data: data}, nil
}

// busyBox is the busybox image: Debian's static busybox from the root file system as
// /bin/busybox with a link for each applet where `busybox --list-full` puts it, the
// root file system's passwd and group, and /tmp; nothing else of Debian.
func (c *conformanceBuild) busyBox(rootfs []ArchiveFile) ([]ArchiveFile, error) {
	byName := map[string]ArchiveFile{}
	for _, f := range rootfs {
		byName[f.Name] = f
	}
	bin, ok := byName["usr/bin/busybox"]
	if !ok {
		if bin, ok = byName["bin/busybox"]; !ok {
			return nil, fmt.Errorf("busybox-static's root file system has no /bin/busybox")
		}
	}
	applets, err := busyBoxApplets(c.ctx, bin.Data)
	if err != nil {
		return nil, err
	}
	out := []ArchiveFile{{Name: "bin/busybox", Mode: 0o755, Data: bin.Data}, {Name: "tmp", Type: tar.TypeDir, Mode: 0o1777},
		{Name: "root", Type: tar.TypeDir, Mode: 0o700}, {Name: "home", Type: tar.TypeDir, Mode: 0o755}}
	dirs := map[string]bool{}
	for _, a := range applets {
		if a == "bin/busybox" {
			continue
		}
		for d := path.Dir(a); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			out = append(out, ArchiveFile{Name: d, Type: tar.TypeDir, Mode: 0o755})
		}
		out = append(out, ArchiveFile{Name: a, Type: tar.TypeSymlink, Linkname: "/bin/busybox", Mode: 0o777})
	}
	for _, f := range []string{"etc/passwd", "etc/group"} {
		if e, ok := byName[f]; ok {
			out = append(out, ArchiveFile{Name: f, Mode: 0o644, Data: e.Data})
		}
	}
	return out, nil
}

// busyBoxListFull is BusyBox's flag that lists its applets with their paths.
const busyBoxListFull = "--list-full"

// busyBoxApplets runs the static busybox binary (the build machine is linux/amd64, as
// the nodes are) to list where its applets go, e.g. bin/sh, usr/bin/wget. The file is
// named busybox: BusyBox runs the applet its own name names.
func busyBoxApplets(ctx context.Context, binary []byte) ([]string, error) {
	dir, err := os.MkdirTemp("", "kisgen-busybox-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bin, binary, 0o755); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, bin, busyBoxListFull).Output()
	if err != nil {
		return nil, fmt.Errorf("busybox %s: %w", busyBoxListFull, err)
	}
	applets := strings.Fields(string(out))
	if len(applets) == 0 {
		return nil, fmt.Errorf("busybox %s lists no applets", busyBoxListFull)
	}
	return applets, nil
}

// appendLines returns files with lines appended to the regular file name (which must be
// there: the root file system's passwd or group).
func appendLines(files []ArchiveFile, name string, lines ...string) ([]ArchiveFile, error) {
	out := append([]ArchiveFile(nil), files...)
	for i, f := range out {
		if f.Name == name && (f.Type == 0 || f.Type == tar.TypeReg) {
			data := append([]byte(nil), f.Data...)
			if len(data) > 0 && data[len(data)-1] != '\n' {
				data = append(data, '\n')
			}
			out[i].Data = append(data, strings.Join(lines, "\n")+"\n"...)
			return out, nil
		}
	}
	return nil, fmt.Errorf("the root file system has no /%s", name)
}
