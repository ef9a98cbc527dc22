package roles_test

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// yamlDocs parses every document of a multi-document YAML file back.
func yamlDocs(t *testing.T, text string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		out = append(out, d)
	}
}

// TestCalicoFollowsThePlan parses the first master's Calico add-ons back and compares
// them with what the plan says: mode, AS number, pool, MTU, address detection and
// policy.
func TestCalicoFollowsThePlan(t *testing.T) {
	managed := map[string]any{"app.kubernetes.io/managed-by": "kisgen"}
	bgp := func(as int) map[string]any {
		return map[string]any{"apiVersion": "crd.projectcalico.org/v1", "kind": "BGPConfiguration",
			"metadata": map[string]any{"name": "default", "labels": managed},
			"spec":     map[string]any{"asNumber": as, "nodeToNodeMeshEnabled": true, "logSeverityScreen": "Info"}}
	}
	pool := func(ipip string) map[string]any {
		return map[string]any{"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
			"metadata": map[string]any{"name": "default-ipv4-ippool", "labels": managed},
			"spec": map[string]any{"cidr": "172.16.0.0/16", "blockSize": 26, "ipipMode": ipip, "vxlanMode": "Never", "natOutgoing": true,
				"nodeSelector": "all()", "allowedUses": []any{"Workload", "Tunnel"}}}
	}
	system := "{'kube-node-lease', 'kube-public', 'kube-system'}"
	isolation := map[string]any{"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy",
		"metadata": map[string]any{"name": roles.CalicoIsolationPolicy, "labels": managed},
		"spec": map[string]any{"tier": "default", "order": roles.CalicoIsolationOrder, "selector": "projectcalico.org/namespace not in " + system,
			"types": []any{"Ingress"},
			"ingress": []any{
				map[string]any{"action": "Allow", "source": map[string]any{"namespaceSelector": "projectcalico.org/name in " + system}},
				map[string]any{"action": "Deny"}}}}
	tests := []struct {
		name, example string
		edits         []string
		resources     []map[string]any
		env           map[string]string
		mtu           string
	}{
		{name: "overlay is IP-in-IP with the tunnel MTU, open by default (policy off)", example: "minimal.yaml",
			resources: []map[string]any{bgp(64511), pool("Always")},
			env:       map[string]string{"CALICO_IPV4POOL_IPIP": "Always", "CALICO_IPV4POOL_CIDR": "172.16.0.0/16", "IP_AUTODETECTION_METHOD": "kubernetes-internal-ip"},
			mtu:       "1440"},
		{name: "routed is BGP without encapsulation under the plan's AS, pods isolated (policy on)", example: "ha.yaml",
			edits:     []string{"as_number: 64511", "as_number: 64600"},
			resources: []map[string]any{bgp(64600), pool("Never"), isolation},
			env:       map[string]string{"CALICO_IPV4POOL_IPIP": "Never", "CALICO_IPV4POOL_VXLAN": "Never", "CALICO_IPV4POOL_BLOCK_SIZE": "26"},
			mtu:       "1500"},
		{name: "an explicit address detection method is kept", example: "minimal.yaml",
			edits:     []string{"mode: overlay", "mode: overlay\n        ip_autodetection_method: cidr=10.10.0.0/24"},
			resources: []map[string]any{bgp(64511), pool("Always")},
			env:       map[string]string{"IP_AUTODETECTION_METHOD": "cidr=10.10.0.0/24"},
			mtu:       "1440"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, nodes := model(t, tc.example, tc.edits...)
			m := nodes["master1"]
			if diff := cmp.Diff(tc.resources, yamlDocs(t, file(t, m, roles.AddOnsDir+"/"+roles.CalicoResourcesFile).Content)); diff != "" {
				t.Errorf("Calico resources (-want +got):\n%s", diff)
			}
			ds := yamlDocs(t, file(t, m, roles.AddOnsDir+"/calico/calico-node-env.yaml").Content)[0]
			got := map[string]string{}
			for _, c := range ds["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any) {
				for _, e := range c.(map[string]any)["env"].([]any) {
					e := e.(map[string]any)
					got[e["name"].(string)] = e["value"].(string)
				}
			}
			c0 := ds["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
			live, ready := c0["livenessProbe"].(map[string]any), c0["readinessProbe"].(map[string]any)
			wantLive := map[string]any{"exec": nil, "httpGet": map[string]any{"host": "localhost", "path": "/liveness", "port": 9099},
				"initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 10, "failureThreshold": 6}
			if diff := cmp.Diff(wantLive, live); diff != "" {
				t.Errorf("calico-node liveness patch: felix's health port instead of the exec handler (exec: null deletes it) (-want +got):\n%s", diff)
			}
			if _, ok := live["exec"]; !ok {
				t.Error("calico-node liveness patch does not set exec to null: the merged probe would have two handlers")
			}
			if diff := cmp.Diff(map[string]any{"periodSeconds": 20, "timeoutSeconds": 30}, ready); diff != "" {
				t.Errorf("calico-node readiness patch: the schedule only, the manifest keeps its exec handler (-want +got):\n%s", diff)
			}
			if _, ok := got["AS"]; ok {
				t.Error("calico-node's environment sets AS: the AS number is the cluster's, in the BGPConfiguration")
			}
			for k, v := range tc.env {
				if got[k] != v {
					t.Errorf("calico-node env %s = %q, want %q", k, got[k], v)
				}
			}
			cm := yamlDocs(t, file(t, m, roles.AddOnsDir+"/calico/calico-config.yaml").Content)[0]
			if v := cm["data"].(map[string]any)["veth_mtu"]; v != tc.mtu {
				t.Errorf("veth_mtu = %v, want %s", v, tc.mtu)
			}
			if env := file(t, m, roles.NodeEnvPath).Content; !strings.Contains(env, "calico "+roles.CalicoResourcesFile) {
				t.Errorf("the Calico resources are not applied right after calico.yaml (KISGEN_ADDONS):\n%s", env)
			}
			if !strings.Contains(file(t, m, roles.ArtifactsPath).Content, "/manifests/calico.yaml") {
				t.Error("the first master does not fetch the Calico manifest")
			}
			for host, n := range nodes {
				isMaster := strings.HasPrefix(host, "master")
				if hasFile(n, roles.CalicoctlConfigPath) != isMaster {
					t.Errorf("%s: calicoctl configuration present = %v, want it on masters only", host, !isMaster)
				}
				if isMaster && !strings.Contains("\n"+file(t, n, roles.ArtifactsPath).Content, "\ncalicoctl\t") {
					t.Errorf("%s does not install calicoctl", host)
				}
				if host != "master1" && hasFile(n, roles.AddOnsDir+"/"+roles.CalicoResourcesFile) {
					t.Errorf("%s got the add-ons", host)
				}
				for _, f := range n.Files {
					if strings.Contains(f.Content, "ValidatingAdmissionPolicy") {
						t.Errorf("%s: %s refuses objects: NetworkPolicy objects are never refused", host, f.Path)
					}
				}
			}
			cfg := yamlDocs(t, file(t, m, roles.CalicoctlConfigPath).Content)[0]
			want := map[string]any{"apiVersion": "projectcalico.org/v3", "kind": "CalicoAPIConfig", "metadata": map[string]any{},
				"spec": map[string]any{"datastoreType": "kubernetes", "kubeconfig": roles.AdminKubeconfig}}
			if diff := cmp.Diff(want, cfg); diff != "" {
				t.Errorf("calicoctl.cfg (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCalicoManifestSums recomputes the sums kisgen pins the upstream manifests with
// from the release's source tarball (KISGEN_SOURCES, as mirror build gets it).
func TestCalicoManifestSums(t *testing.T) {
	dir := os.Getenv("KISGEN_SOURCES")
	if dir == "" {
		testtool.Missing(t, "KISGEN_SOURCES is not set: the directory holding "+binbuild.CalicoSource.File)
	}
	tgz, _, err := binbuild.CalicoSources(dir)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := binbuild.TarballSums(tgz, "manifests/")
	if err != nil {
		t.Fatal(err)
	}
	path := "raw.githubusercontent.com/projectcalico/calico/" + binbuild.CalicoVersion + "/manifests/calico.yaml"
	if got, want := plan.KnownSHA256(path), sums["manifests/calico.yaml"]; got == "" || got != want {
		t.Errorf("KnownSHA256(%s) = %q, the tarball's file has %q", path, got, want)
	}
	if plan.KnownSHA256("raw.githubusercontent.com/projectcalico/calico/v0.0.0/manifests/calico.yaml") != "" {
		t.Error("a sum is known for a release kisgen never saw")
	}
}
