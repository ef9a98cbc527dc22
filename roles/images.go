package roles

import "github.com/kisgen/kisgen/plan"

// Image components: the ClusterImage.Component of each image kisgen itself deploys.
const (
	ImagePause         = "pause"
	ImageCoreDNS       = "coredns"
	ImageMetricsServer = "metrics-server"
)

// ClusterImage is a container image the plan's cluster runs: its exact upstream
// reference (what the manifests and containerd's sandbox_image name) and where `kisgen
// mirror build` puts its archive.
type ClusterImage struct {
	// Component names the image (pause, coredns, metrics-server, calico-node…).
	Component string
	// Ref is the upstream reference, e.g. registry.k8s.io/coredns/coredns:v1.15.0.
	Ref string
	// Archive is the image archive's path relative to the mirror root, e.g.
	// images/coredns-v1.15.0.tar (list it in mirror.image_archives for nodes to import it).
	Archive string
}

// ImageArchivePath is where the archive of an image component's version lives in a
// mirror: images/NAME-VERSION.tar.
func ImageArchivePath(component, version string) string {
	return "images/" + component + "-" + version + ".tar"
}

// PauseImage, CoreDNSImage and MetricsServerImage are the references of the images
// kisgen deploys, one place for the manifests, containerd's configuration and the mirror.
func PauseImage(p *plan.Plan) string { return "registry.k8s.io/pause:" + p.Versions.Pause }

// CoreDNSImage is CoreDNS's image at the plan's version.
func CoreDNSImage(p *plan.Plan) string { return CoreDNSImageAt(p.Versions.CoreDNS) }

// CoreDNSImageAt is CoreDNS's image at version.
func CoreDNSImageAt(version string) string { return coreDNSRepository + ":" + version }

const (
	coreDNSRepository       = "registry.k8s.io/coredns/coredns"
	metricsServerRepository = "registry.k8s.io/metrics-server/metrics-server"
)

// MetricsServerImage is metrics-server's image at the plan's version.
func MetricsServerImage(p *plan.Plan) string { return MetricsServerImageAt(p.Versions.MetricsServer) }

// MetricsServerImageAt is metrics-server's image at version.
func MetricsServerImageAt(version string) string { return metricsServerRepository + ":" + version }

// ClusterImages lists the images p's cluster runs, in a fixed order: the sandbox (pause)
// image, CoreDNS when cluster DNS is on, metrics-server when it is enabled, then the
// pod network's images (calicoImages, the Calico part of roles), then kisgen's
// declared-ports controller when network policy is on (declaredPortsImages).
func ClusterImages(p *plan.Plan) []ClusterImage {
	out := []ClusterImage{{Component: ImagePause, Ref: PauseImage(p), Archive: ImageArchivePath(ImagePause, p.Versions.Pause)}}
	if p.AddOns.DNS {
		out = append(out, ClusterImage{Component: ImageCoreDNS, Ref: CoreDNSImage(p), Archive: ImageArchivePath(ImageCoreDNS, p.Versions.CoreDNS)})
	}
	if p.AddOns.MetricsServer {
		out = append(out, ClusterImage{Component: ImageMetricsServer, Ref: MetricsServerImage(p),
			Archive: ImageArchivePath(ImageMetricsServer, p.Versions.MetricsServer)})
	}
	// Hook for the Calico images (calico/node, calico/cni, calico/kube-controllers):
	// calicoImages is defined with the rest of Calico.
	out = append(out, calicoImages(p)...)
	return append(out, declaredPortsImages(p)...)
}
