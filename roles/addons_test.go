package roles_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// TestAddOnKustomizationsAreThePlansManifests runs the real `kubectl kustomize` (the
// kubectl of kisgen's cache, as the first master's kisgen-addons applies with -k) over
// the CoreDNS and metrics-server directories of a plan whose settings all differ from
// the bases' (versions, replicas, service range): the objects it prints are exactly
// the manifests rendered whole with the plan's settings.
func TestAddOnKustomizationsAreThePlansManifests(t *testing.T) {
	cache, err := cachedir.Bin("")
	if err != nil {
		t.Fatal(err)
	}
	kubectl := testtool.Built(t, filepath.Join(cache, binbuild.ProjectKubernetes+"-"+plan.DefaultKubernetesVersion, "kubectl"),
		"kubectl "+plan.DefaultKubernetesVersion, "kisgen mirror build")
	p, nodes := model(t, "ha.yaml",
		"  dns:\n    options:\n      replicas: 2\n", "  dns:\n    options:\n      replicas: 3\n",
		"provider:\n", "versions:\n  coredns: v1.14.2\n  metrics_server: v0.7.2\nprovider:\n")
	if p.AddOns.DNSReplicas != 3 || p.Versions.CoreDNS != "v1.14.2" || p.Versions.MetricsServer != "v0.7.2" {
		t.Fatalf("the plan's edits did not take: %+v %+v", p.AddOns, p.Versions)
	}
	dns, err := roles.CoreDNSManifest(roles.CoreDNSImage(p), 3, p.ServiceIP(10).String())
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := roles.MetricsServerManifest(roles.MetricsServerImage(p))
	if err != nil {
		t.Fatal(err)
	}
	m := nodes["master1"]
	for dir, want := range map[string]string{roles.CoreDNSAddOn: dns, roles.MetricsServerAddOn: metrics} {
		root := t.TempDir()
		for _, f := range m.Files {
			if rel, ok := strings.CutPrefix(f.Path, roles.AddOnsDir+"/"+dir+"/"); ok {
				writeFile(t, filepath.Join(root, rel), f.Content, f.Mode)
			}
		}
		out, err := exec.Command(kubectl, "kustomize", root).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v\n%s", dir, err, out)
		}
		if diff := cmp.Diff(objects(t, want), objects(t, string(out))); diff != "" {
			t.Errorf("%s: kustomize's objects differ from the plan's manifest (-want +got):\n%s", dir, diff)
		}
	}
}

// objects decodes a multi-document manifest into its objects, sorted by kind and name.
func objects(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("manifest does not parse: %v\n%s", err, text)
		}
		if doc != nil {
			out = append(out, doc)
		}
	}
	key := func(o map[string]any) string {
		md, _ := o["metadata"].(map[string]any)
		return fmt.Sprint(o["kind"], "/", md["namespace"], "/", md["name"])
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}
