package roles_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/render/rendertest"
	"github.com/kisgen/kisgen/roles"
)

// TestConformanceImagesAreTheSuitesReferences: the e2e images of v1.37.2 under the
// references test/utils/image/manifest.go gives them (checked against a built e2e.test's
// --list-images by conformance's TestConformanceImagesAreTheSuites), each archive at its
// own path, agnhost also under its previous tag; the suite's pause tag only when it is
// not the plan's sandbox image; nothing for a release kisgen does not know.
func TestConformanceImagesAreTheSuitesReferences(t *testing.T) {
	p := rendertest.ExamplePlan(t, "minimal.yaml")
	want := []roles.ConformanceImage{
		{ClusterImage: roles.ClusterImage{Component: "e2e-agnhost", Ref: "registry.k8s.io/e2e-test-images/agnhost:2.66.1", Archive: "images/e2e-agnhost-2.66.1.tar"},
			Aliases: []string{"registry.k8s.io/e2e-test-images/agnhost:2.55"}},
		{ClusterImage: roles.ClusterImage{Component: "e2e-glibc-dns-testing", Ref: "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1", Archive: "images/e2e-glibc-dns-testing-2.1.1.tar"}},
		{ClusterImage: roles.ClusterImage{Component: "e2e-nginx", Ref: "registry.k8s.io/e2e-test-images/nginx:1.27.0-2", Archive: "images/e2e-nginx-1.27.0-2.tar"}},
		{ClusterImage: roles.ClusterImage{Component: "e2e-busybox", Ref: "registry.k8s.io/e2e-test-images/busybox:1.37.0-2", Archive: "images/e2e-busybox-1.37.0-2.tar"}},
		{ClusterImage: roles.ClusterImage{Component: "e2e-nonroot", Ref: "registry.k8s.io/e2e-test-images/nonroot:1.5", Archive: "images/e2e-nonroot-1.5.tar"}},
		{ClusterImage: roles.ClusterImage{Component: "e2e-pause", Ref: "registry.k8s.io/pause:3.10.2", Archive: "images/e2e-pause-3.10.2.tar"}},
	}
	if diff := cmp.Diff(want, roles.ConformanceImages(p)); diff != "" {
		t.Errorf("ConformanceImages (-want +got):\n%s", diff)
	}
	if !roles.IsConformanceArchive(p, "images/e2e-nginx-1.27.0-2.tar") || roles.IsConformanceArchive(p, "images/pause-3.10.1.tar") {
		t.Error("IsConformanceArchive does not tell the e2e archives from the cluster's")
	}

	same := *p
	same.Versions.Pause = "3.10.2"
	for _, img := range roles.ConformanceImages(&same) {
		if img.Component == roles.ImageE2EPause {
			t.Errorf("the suite's pause is listed although it is the plan's sandbox image, in ClusterImages: %+v", img)
		}
	}

	other := *p
	other.Versions = plan.Versions{Kubernetes: "v1.36.0", Pause: p.Versions.Pause}
	if got := roles.ConformanceImages(&other); got != nil {
		t.Errorf("images for an unknown release: %+v", got)
	}
	if diff := cmp.Diff([]string{"v1.37.2"}, roles.ConformanceVersions()); diff != "" {
		t.Errorf("ConformanceVersions (-want +got):\n%s", diff)
	}
}
