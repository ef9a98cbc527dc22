package roles

import "github.com/kisgen/kisgen/plan"

// calicoImages lists the Calico images a Calico cluster runs, for ClusterImages.
//
// Placeholder until the Calico part of roles defines it with Calico's manifests: that
// change replaces this file (delete it when calicoImages is defined elsewhere).
func calicoImages(*plan.Plan) []ClusterImage { return nil }
