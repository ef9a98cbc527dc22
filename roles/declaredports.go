package roles

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"

	"github.com/kisgen/kisgen/plan"
)

// DeclaredPortsSource is the declared-ports controller (roles/declaredports), one file of
// standard-library Go that `kisgen mirror build` compiles and packs as an image archive.
//
//go:embed declaredports/main.go
var DeclaredPortsSource []byte

// ImageDeclaredPorts is the ClusterImage component of the declared-ports controller.
const ImageDeclaredPorts = "declared-ports"

// declaredPortsName is the controller's Deployment, service account and RBAC name.
const declaredPortsName = "kisgen-declared-ports"

// declaredPortsVersion tags the controller's image: the first 12 hex digits of its
// source's sha256, so an image is never taken for another build of a different source.
func declaredPortsVersion() string {
	h := sha256.Sum256(DeclaredPortsSource)
	return "src-" + hex.EncodeToString(h[:6])
}

// DeclaredPortsImage is the controller's image reference. kisgen publishes it to no
// registry: it exists only as the mirror's archive (or an image baked with it).
func DeclaredPortsImage() string { return "kisgen.local/declared-ports:" + declaredPortsVersion() }

// declaredPortsEnabled says whether the plan deploys the controller: Calico with network
// policy on, and a mirror to carry its image (without one, render warns that declared
// ports stay closed: docs/network.md).
func declaredPortsEnabled(p *plan.Plan) bool {
	return calicoEnabled(p) && p.Network.NetworkPolicy && p.Mirror.URL != ""
}

// declaredPortsImages is the controller's ClusterImage when the plan deploys it.
func declaredPortsImages(p *plan.Plan) []ClusterImage {
	if !declaredPortsEnabled(p) {
		return nil
	}
	return []ClusterImage{{Component: ImageDeclaredPorts, Ref: DeclaredPortsImage(),
		Archive: ImageArchivePath(ImageDeclaredPorts, declaredPortsVersion())}}
}

// declaredPorts is the controller's add-on: its service account, what it may read and
// write (pods: read and label; NetworkPolicies: read; Calico's namespaced
// NetworkPolicies: read, create, delete), and a Deployment of one replica in kube-system
// (not isolated by kisgen's policy, so it always reaches the API server).
func declaredPorts() (string, error) {
	const ns = "kube-system"
	labels := map[string]string{"k8s-app": declaredPortsName, "app.kubernetes.io/managed-by": "kisgen"}
	rbac := "rbac.authorization.k8s.io/v1"
	sa := serviceAccount{typeMeta: typeMeta{"v1", "ServiceAccount"}, Metadata: objectMeta{Name: declaredPortsName, Namespace: ns, Labels: labels}}
	role := clusterRole{typeMeta: typeMeta{rbac, "ClusterRole"}, Metadata: objectMeta{Name: "kisgen:declared-ports", Labels: labels},
		Rules: []policyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"crd.projectcalico.org"}, Resources: []string{"networkpolicies"}, Verbs: []string{"get", "list", "create", "delete"}},
		}}
	bind := clusterRoleBinding{typeMeta: typeMeta{rbac, "ClusterRoleBinding"}, Metadata: objectMeta{Name: "kisgen:declared-ports", Labels: labels},
		RoleRef:  roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "kisgen:declared-ports"},
		Subjects: []subject{{Kind: "ServiceAccount", Name: declaredPortsName, Namespace: ns}}}

	sel := map[string]string{"k8s-app": declaredPortsName}
	var d deployment
	d.typeMeta = typeMeta{"apps/v1", "Deployment"}
	d.Metadata = objectMeta{Name: declaredPortsName, Namespace: ns, Labels: labels}
	d.Spec.Replicas = 1
	d.Spec.Selector = labelSelector{MatchLabels: sel}
	d.Spec.Strategy.Type = "RollingUpdate"
	d.Spec.Strategy.RollingUpdate.MaxUnavailable = 1
	d.Spec.Template.Metadata.Labels = sel
	ps := &d.Spec.Template.Spec
	ps.PriorityClassName = "system-cluster-critical"
	ps.ServiceAccountName = declaredPortsName
	ps.Tolerations = []toleration{{Key: "CriticalAddonsOnly", Operator: "Exists"}, {Key: ControlPlaneTaint.Key, Effect: ControlPlaneTaint.Effect}}
	ps.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	live := &probe{}
	live.HTTPGet.Path, live.HTTPGet.Port, live.HTTPGet.Scheme = "/healthz", 8080, "HTTP"
	live.InitialDelaySeconds, live.TimeoutSeconds, live.FailureThreshold = 60, 5, 5
	sc := &securityContext{ReadOnlyRootFilesystem: true, RunAsNonRoot: true, RunAsUser: 65532}
	sc.Capabilities.Drop = []string{"ALL"}
	ps.Containers = []container{{
		Name: "declared-ports", Image: DeclaredPortsImage(), ImagePullPolicy: "IfNotPresent",
		Ports:         []containerPort{{"health", 8080, "TCP"}},
		Resources:     &resources{Limits: map[string]string{"memory": "64Mi"}, Requests: map[string]string{"cpu": "10m", "memory": "20Mi"}},
		LivenessProbe: live, SecurityContext: sc,
	}}
	return marshalYAMLDocs(sa, role, bind, d)
}
