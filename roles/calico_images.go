package roles

import "github.com/kisgen/kisgen/plan"

// Calico's images, by component name (ClusterImage.Component).
const (
	CompCalicoNode            = "calico-node"
	CompCalicoCNI             = "calico-cni"
	CompCalicoKubeControllers = "calico-kube-controllers"
)

// calicoImages are the images of the upstream calico.yaml of the plan's release, tagged
// as it references them (quay.io/calico/NAME:VERSION), so the same manifest runs from the
// registry online and from the imported archives air-gapped.
func calicoImages(p *plan.Plan) []ClusterImage {
	if !calicoEnabled(p) {
		return nil
	}
	v := p.Versions.Calico
	var out []ClusterImage
	for _, c := range []struct{ comp, name string }{
		{CompCalicoNode, "node"}, {CompCalicoCNI, "cni"}, {CompCalicoKubeControllers, "kube-controllers"},
	} {
		out = append(out, ClusterImage{Component: c.comp, Ref: "quay.io/calico/" + c.name + ":" + v, Archive: ImageArchivePath(c.comp, v)})
	}
	return out
}
