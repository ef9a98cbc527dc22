package roles

import "github.com/kisgen/kisgen/plan"

// ClusterImage is a container image the cluster's add-ons run: its component name, the
// exact reference the manifests use, and where `kisgen mirror build` writes its image
// archive (relative to the mirror root).
type ClusterImage struct {
	Component, Ref, Archive string
}

// ClusterImages lists the images of the plan's add-ons that kisgen builds.
func ClusterImages(p *plan.Plan) []ClusterImage {
	return calicoImages(p)
}
