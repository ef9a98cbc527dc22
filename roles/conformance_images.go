package roles

import (
	"sort"

	"github.com/kisgen/kisgen/plan"
)

// Components of the images Kubernetes' end-to-end suite runs (kisgen conformance), as
// `kisgen mirror build --conformance` builds them.
const (
	// ImageE2EAgnhost is the suite's all-purpose test image: the agnhost binary of the
	// plan's Kubernetes source with the tools its specs run in it (dig, curl, nc, ip…).
	ImageE2EAgnhost = "e2e-agnhost"
	// ImageE2EGlibcDNSTesting is the glibc half of the DNS specs' probes (dig on Debian).
	ImageE2EGlibcDNSTesting = "e2e-glibc-dns-testing"
	// ImageE2ENginx is the web server some Service and Endpoints specs run.
	ImageE2ENginx = "e2e-nginx"
	// ImageE2EBusyBox is the suite's default image for a shell and core tools.
	ImageE2EBusyBox = "e2e-busybox"
	// ImageE2ENonRoot is BusyBox whose image configuration names a non-root user.
	ImageE2ENonRoot = "e2e-nonroot"
	// ImageE2EPause is the pause image at the suite's own tag, which can differ from the
	// plan's sandbox image.
	ImageE2EPause = "e2e-pause"
)

// ConformanceImage is an image of the e2e suite: where its archive goes, and the more
// references the same archive is tagged with.
type ConformanceImage struct {
	ClusterImage
	// Aliases are more references of the same image. The suite asks for agnhost under
	// its previous tag too (AgnhostPrev), only to have a second image name to roll a
	// Deployment or a kubectl edit to; the program behind the tag is the same.
	Aliases []string
}

// e2eImageTags are the tags test/utils/image/manifest.go gives the suite's images, by
// Kubernetes release, for the images kisgen builds. `e2e.test --list-images` prints the
// references (TestConformanceImagesAreTheSuites checks them against a built e2e.test).
type e2eImageTags struct {
	agnhost, agnhostPrev, glibcDNSTesting, nginx, busybox, nonroot, pause string
}

var e2eImages = map[string]e2eImageTags{
	"v1.37.2": {agnhost: "2.66.1", agnhostPrev: "2.55", glibcDNSTesting: "2.1.1", nginx: "1.27.0-2", busybox: "1.37.0-2", nonroot: "1.5", pause: "3.10.2"},
}

// e2eRegistry is the suite's registry of test images (manifest.go's
// PromoterE2eRegistry); the pause image is in registry.k8s.io itself.
const e2eRegistry = "registry.k8s.io/e2e-test-images/"

// ConformanceVersions are the Kubernetes releases whose e2e images kisgen knows, sorted.
func ConformanceVersions() []string {
	out := make([]string, 0, len(e2eImages))
	for v := range e2eImages {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// ConformanceImages lists the images the e2e suite of p's Kubernetes version runs that
// kisgen builds, tagged exactly as the suite names them, in a fixed order; none when
// kisgen does not know the suite's images of that version (ConformanceVersions). The
// pause image is left out when the plan's sandbox image is the same reference (it is
// then in ClusterImages).
func ConformanceImages(p *plan.Plan) []ConformanceImage {
	t, ok := e2eImages[p.Versions.Kubernetes]
	if !ok {
		return nil
	}
	img := func(comp, name, tag string, aliases ...string) ConformanceImage {
		return ConformanceImage{ClusterImage: ClusterImage{Component: comp, Ref: e2eRegistry + name + ":" + tag, Archive: ImageArchivePath(comp, tag)}, Aliases: aliases}
	}
	out := []ConformanceImage{
		img(ImageE2EAgnhost, "agnhost", t.agnhost, e2eRegistry+"agnhost:"+t.agnhostPrev),
		img(ImageE2EGlibcDNSTesting, "glibc-dns-testing", t.glibcDNSTesting),
		img(ImageE2ENginx, "nginx", t.nginx),
		img(ImageE2EBusyBox, "busybox", t.busybox),
		img(ImageE2ENonRoot, "nonroot", t.nonroot),
	}
	if pause := "registry.k8s.io/pause:" + t.pause; pause != PauseImage(p) {
		out = append(out, ConformanceImage{ClusterImage: ClusterImage{Component: ImageE2EPause, Ref: pause, Archive: ImageArchivePath(ImageE2EPause, t.pause)}})
	}
	return out
}

// IsConformanceArchive says whether a mirror path is the archive of an e2e image of p
// (one `kisgen mirror build` makes when the plan lists it).
func IsConformanceArchive(p *plan.Plan, archive string) bool {
	for _, img := range ConformanceImages(p) {
		if img.Archive == archive {
			return true
		}
	}
	return false
}
