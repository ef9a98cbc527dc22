package kismatic_test

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/plan/kismatic"
)

// v112Keys is every key path of Kismatic v1.12.0's plan types (apprenda/kismatic,
// pkg/install/plan_types.go: the Plan struct and what it holds, named as its YAML library
// named them: the yaml tag, else the field name in lowercase). "[]" stands for a list item.
var v112Keys = []string{
	"add_ons.cni.disable",
	"add_ons.cni.options.calico.felix_input_mtu",
	"add_ons.cni.options.calico.ip_autodetection_method",
	"add_ons.cni.options.calico.log_level",
	"add_ons.cni.options.calico.mode",
	"add_ons.cni.options.calico.workload_mtu",
	"add_ons.cni.options.portmap.disable",
	"add_ons.cni.options.weave.password",
	"add_ons.cni.provider",
	"add_ons.dashboard.disable",
	"add_ons.dashboard.options.node_port",
	"add_ons.dashboard.options.service_type",
	"add_ons.dns.disable",
	"add_ons.dns.options.replicas",
	"add_ons.dns.provider",
	"add_ons.heapster.disable",
	"add_ons.heapster.options.heapster.replicas",
	"add_ons.heapster.options.heapster.service_type",
	"add_ons.heapster.options.heapster.sink",
	"add_ons.heapster.options.heapster_replicas",
	"add_ons.heapster.options.influxdb.pvc_name",
	"add_ons.heapster.options.influxdb_pvc_name",
	"add_ons.metrics_server.disable",
	"add_ons.package_manager.disable",
	"add_ons.package_manager.options.helm.namespace",
	"add_ons.package_manager.provider",
	"add_ons.rescheduler.disable",
	"additional_files[].destination",
	"additional_files[].hosts[]",
	"additional_files[].skip_validation",
	"additional_files[].source",
	"cluster.admin_password",
	"cluster.allow_package_installation",
	"cluster.certificates.apiserver_cert_extra_sans",
	"cluster.certificates.ca_expiry",
	"cluster.certificates.expiry",
	"cluster.cloud_provider.config",
	"cluster.cloud_provider.provider",
	"cluster.disable_package_installation",
	"cluster.disconnected_installation",
	"cluster.kube_apiserver.option_overrides",
	"cluster.kube_controller_manager.option_overrides",
	"cluster.kube_proxy.option_overrides",
	"cluster.kube_scheduler.option_overrides",
	"cluster.kubelet.option_overrides",
	"cluster.name",
	"cluster.networking.http_proxy",
	"cluster.networking.https_proxy",
	"cluster.networking.no_proxy",
	"cluster.networking.pod_cidr_block",
	"cluster.networking.service_cidr_block",
	"cluster.networking.type",
	"cluster.networking.update_hosts_files",
	"cluster.ssh.ssh_key",
	"cluster.ssh.ssh_port",
	"cluster.ssh.user",
	"cluster.version",
	"docker.disable",
	"docker.logs.driver",
	"docker.logs.opts",
	"docker.storage.direct_lvm.block_device",
	"docker.storage.direct_lvm.enable_deferred_deletion",
	"docker.storage.direct_lvm.enabled",
	"docker.storage.direct_lvm_block_device.path",
	"docker.storage.direct_lvm_block_device.thinpool_autoextend_percent",
	"docker.storage.direct_lvm_block_device.thinpool_autoextend_threshold",
	"docker.storage.direct_lvm_block_device.thinpool_metapercent",
	"docker.storage.direct_lvm_block_device.thinpool_percent",
	"docker.storage.driver",
	"docker.storage.opts",
	"docker_registry.CA",
	"docker_registry.address",
	"docker_registry.password",
	"docker_registry.port",
	"docker_registry.server",
	"docker_registry.username",
	"etcd.expected_count",
	"etcd.nodes[].host",
	"etcd.nodes[].internalip",
	"etcd.nodes[].ip",
	"etcd.nodes[].kubelet.option_overrides",
	"etcd.nodes[].labels",
	"etcd.nodes[].taints[].effect",
	"etcd.nodes[].taints[].key",
	"etcd.nodes[].taints[].value",
	"features.package_manager.enabled",
	"ingress.expected_count",
	"ingress.nodes[].host",
	"ingress.nodes[].internalip",
	"ingress.nodes[].ip",
	"ingress.nodes[].kubelet.option_overrides",
	"ingress.nodes[].labels",
	"ingress.nodes[].taints[].effect",
	"ingress.nodes[].taints[].key",
	"ingress.nodes[].taints[].value",
	"master.expected_count",
	"master.load_balanced_fqdn",
	"master.load_balanced_short_name",
	"master.load_balancer",
	"master.nodes[].host",
	"master.nodes[].internalip",
	"master.nodes[].ip",
	"master.nodes[].kubelet.option_overrides",
	"master.nodes[].labels",
	"master.nodes[].taints[].effect",
	"master.nodes[].taints[].key",
	"master.nodes[].taints[].value",
	"nfs.nfs_volume[].mount_path",
	"nfs.nfs_volume[].nfs_host",
	"storage.expected_count",
	"storage.nodes[].host",
	"storage.nodes[].internalip",
	"storage.nodes[].ip",
	"storage.nodes[].kubelet.option_overrides",
	"storage.nodes[].labels",
	"storage.nodes[].taints[].effect",
	"storage.nodes[].taints[].key",
	"storage.nodes[].taints[].value",
	"worker.expected_count",
	"worker.nodes[].host",
	"worker.nodes[].internalip",
	"worker.nodes[].ip",
	"worker.nodes[].kubelet.option_overrides",
	"worker.nodes[].labels",
	"worker.nodes[].taints[].effect",
	"worker.nodes[].taints[].key",
	"worker.nodes[].taints[].value",
}

// olderKeys are the keys the schema holds beyond v1.12's: what older releases wrote
// (v1.4–v1.11) and the installer guide's spelling of internalip.
var olderKeys = []string{
	"add_ons.dashbard.disable",
	"add_ons.dashbard.options.node_port",
	"add_ons.dashbard.options.service_type",
	"cluster.disable_registry_seeding",
	"cluster.package_repository_urls",
	"docker_registry.setup_internal",
	"etcd.nodes[].internal_ip",
	"ingress.nodes[].internal_ip",
	"master.nodes[].internal_ip",
	"storage.nodes[].internal_ip",
	"worker.nodes[].internal_ip",
}

const completeFixture = "../testdata/kismatic/complete-v1.12.yaml"

// schemaKeys lists the key paths of a schema type, each with the kind of its value.
func schemaKeys(t reflect.Type, path string, out map[string]reflect.Kind) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if key == "" {
				key = strings.ToLower(f.Name)
			}
			child := key
			if path != "" {
				child = path + "." + key
			}
			schemaKeys(f.Type, child, out)
		}
	case reflect.Slice:
		schemaKeys(t.Elem(), path+"[]", out)
	default:
		out[path] = t.Kind()
	}
}

// TestSchemaHoldsEveryV112Key checks that the schema has every key of v1.12's plan types,
// and nothing but those and the older keys listed.
func TestSchemaHoldsEveryV112Key(t *testing.T) {
	have := map[string]reflect.Kind{}
	schemaKeys(reflect.TypeOf(kismatic.Plan{}), "", have)
	var got []string
	for k := range have {
		got = append(got, k)
	}
	want := append(append([]string(nil), v112Keys...), olderKeys...)
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema keys (-v1.12 and older +plan/kismatic):\n%s", diff)
	}
}

// fileKeys lists the key paths a YAML document sets, lists written as "[]" and the keys
// of free-form maps (option_overrides, labels, opts) left out.
func fileKeys(n *yaml.Node, path string, schema map[string]reflect.Kind, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		fileKeys(n.Content[0], path, schema, out)
	case yaml.MappingNode:
		if schema[path] == reflect.Map {
			out[path] = true
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			child := n.Content[i].Value
			if path != "" {
				child = path + "." + child
			}
			fileKeys(n.Content[i+1], child, schema, out)
		}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return
		}
		for _, item := range n.Content {
			fileKeys(item, path+"[]", schema, out)
		}
	default:
		out[path] = true
	}
}

// TestCompleteFixtureHasEveryV112Key checks that the complete fixture, which the plan tests
// validate and convert, sets every key of v1.12's plan types.
func TestCompleteFixtureHasEveryV112Key(t *testing.T) {
	data, err := os.ReadFile(completeFixture)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	schema := map[string]reflect.Kind{}
	schemaKeys(reflect.TypeOf(kismatic.Plan{}), "", schema)
	set := map[string]bool{}
	fileKeys(&doc, "", schema, set)
	for _, k := range v112Keys {
		if !set[k] {
			t.Errorf("%s does not set %s", filepath.Base(completeFixture), k)
		}
	}
}

// TestEveryV112KeyIsAccepted loads, for each key of v1.12's plan types, a Kismatic plan
// that sets only that key, and checks the key is neither unknown nor of the wrong type.
// Content findings (missing nodes and the like) are expected and not looked at.
func TestEveryV112KeyIsAccepted(t *testing.T) {
	schema := map[string]reflect.Kind{}
	schemaKeys(reflect.TypeOf(kismatic.Plan{}), "", schema)
	for _, key := range v112Keys {
		t.Run(key, func(t *testing.T) {
			kind, ok := schema[key]
			if !ok {
				t.Fatalf("the schema has no %s", key)
			}
			doc := documentSetting(key, sampleValue(kind))
			_, rep := plan.Parse("plan.yaml", doc, plan.Options{})
			for _, f := range rep.Findings {
				if f.Severity == report.Error && (strings.HasPrefix(f.Message, "unknown key") || strings.HasPrefix(f.Message, "expected ")) {
					t.Errorf("%s\n%s", f, doc)
				}
			}
		})
	}
}

// sampleValue is a value of the kind a key takes.
func sampleValue(k reflect.Kind) any {
	switch k {
	case reflect.Bool:
		return true
	case reflect.Int:
		return 1
	case reflect.Map:
		return map[string]string{"a": "b"}
	}
	return "x"
}

// documentSetting marshals a document that sets one key path to value, with one item in
// each list on the way.
func documentSetting(path string, value any) []byte {
	var build func(parts []string) any
	build = func(parts []string) any {
		if len(parts) == 0 {
			return value
		}
		v := build(parts[1:])
		if strings.HasSuffix(parts[0], "[]") {
			v = []any{v}
		}
		return map[string]any{strings.TrimSuffix(parts[0], "[]"): v}
	}
	out, err := yaml.Marshal(build(strings.Split(path, ".")))
	if err != nil {
		panic(err) // the values above always marshal
	}
	return out
}
