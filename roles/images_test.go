package roles_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/roles"
)

// manifestImages decodes a multi-document manifest and returns each object's kind and
// every container image it names.
func manifestImages(t *testing.T, text string) (kinds, images []string) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Image string `yaml:"image"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return kinds, images
		}
		if err != nil {
			t.Fatalf("manifest does not parse: %v\n%s", err, text)
		}
		kinds = append(kinds, doc.Kind)
		for _, c := range doc.Spec.Template.Spec.Containers {
			images = append(images, c.Image)
		}
	}
}

// TestClusterImagesFollowTheAddOns proves ClusterImages lists what the add-on manifests
// run, exactly as they reference it, and only the add-ons the plan turns on.
func TestClusterImagesFollowTheAddOns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edits []string
		want  []roles.ClusterImage
	}{
		{"DNS and metrics-server by default", nil, []roles.ClusterImage{
			{Component: "pause", Ref: "registry.k8s.io/pause:3.10.1", Archive: "images/pause-3.10.1.tar"},
			{Component: "coredns", Ref: "registry.k8s.io/coredns/coredns:v1.15.0", Archive: "images/coredns-v1.15.0.tar"},
			{Component: "metrics-server", Ref: "registry.k8s.io/metrics-server/metrics-server:v0.8.0", Archive: "images/metrics-server-v0.8.0.tar"},
		}},
		{"neither when both are off", []string{"add_ons:\n", "add_ons:\n  dns: {disable: true}\n  metrics_server: {disable: true}\n"}, []roles.ClusterImage{
			{Component: "pause", Ref: "registry.k8s.io/pause:3.10.1", Archive: "images/pause-3.10.1.tar"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// bridge: the Calico images are the Calico part's to list
			edits := append([]string{"    provider: calico\n", "    provider: bridge\n"}, tc.edits...)
			p, nodes := model(t, "minimal.yaml", edits...)
			if diff := cmp.Diff(tc.want, roles.ClusterImages(p)); diff != "" {
				t.Errorf("ClusterImages (-want +got):\n%s", diff)
			}
			refs := map[string]bool{}
			for _, img := range roles.ClusterImages(p) {
				refs[img.Ref] = true
			}
			m := nodes["master1"]
			for _, addon := range []struct {
				dir, base string
				on        bool
				kinds     []string
			}{
				{roles.CoreDNSAddOn, "coredns.yaml", refs["registry.k8s.io/coredns/coredns:v1.15.0"],
					[]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Service"}},
				{roles.MetricsServerAddOn, "metrics-server.yaml", refs["registry.k8s.io/metrics-server/metrics-server:v0.8.0"],
					[]string{"ServiceAccount", "ClusterRole", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ClusterRoleBinding", "Service", "Deployment", "APIService"}},
			} {
				dir := roles.AddOnsDir + "/" + addon.dir
				if hasFile(m, dir+"/kustomization.yaml") != addon.on || hasFile(m, dir+"/"+addon.base) != addon.on {
					t.Errorf("%s present = %v, want %v", addon.dir, !addon.on, addon.on)
					continue
				}
				if !addon.on {
					continue
				}
				kinds, images := manifestImages(t, file(t, m, dir+"/"+addon.base).Content)
				if diff := cmp.Diff(addon.kinds, kinds); diff != "" {
					t.Errorf("%s kinds (-want +got):\n%s", addon.dir, diff)
				}
				// The kustomization's images entries retag the base's images (what
				// kustomize does: TestAddOnKustomizationsAreThePlansManifests).
				var k struct {
					Images []struct {
						Name   string `yaml:"name"`
						NewTag string `yaml:"newTag"`
					} `yaml:"images"`
				}
				if err := yaml.Unmarshal([]byte(file(t, m, dir+"/kustomization.yaml").Content), &k); err != nil {
					t.Fatal(err)
				}
				for _, img := range images {
					for _, i := range k.Images {
						if repo, _, _ := strings.Cut(img, ":"); repo == i.Name {
							img = repo + ":" + i.NewTag
						}
					}
					if !refs[img] {
						t.Errorf("%s runs %s, which ClusterImages does not list", addon.dir, img)
					}
				}
				if !strings.Contains(file(t, m, roles.NodeEnvPath).Content, " "+addon.dir) {
					t.Errorf("the add-ons unit does not apply %s", addon.dir)
				}
			}
		})
	}
}
