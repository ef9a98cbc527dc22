package plan

import (
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// documentedField is a field of the v1alpha1 schema with its documentation.
type documentedField struct {
	path string
	kind reflect.Kind
	elem reflect.Kind
	doc  v1alpha1.FieldDoc
}

// schemaFields lists every field under t by YAML path, with its generated documentation.
// Lists of structs are not entered: no field inside a list item has a default.
func schemaFields(t *testing.T, typ reflect.Type, prefix string) []documentedField {
	var out []documentedField
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		key := strings.Split(f.Tag.Get("yaml"), ",")[0]
		doc, ok := v1alpha1.Doc(typ.Name(), key)
		if !ok {
			t.Errorf("%s.%s has no generated documentation: run `go generate ./plan/...`", typ.Name(), key)
		}
		path := joinPath(prefix, key)
		df := documentedField{path: path, kind: f.Type.Kind(), doc: doc}
		if f.Type.Kind() == reflect.Slice {
			df.elem = f.Type.Elem().Kind()
		}
		out = append(out, df)
		if f.Type.Kind() == reflect.Struct {
			out = append(out, schemaFields(t, f.Type, path)...)
		}
	}
	return out
}

// setPath sets a YAML path (dot-separated keys) in a document, creating mappings on the way.
func setPath(t *testing.T, m *yaml.Node, path string, value *yaml.Node) {
	keys := strings.Split(path, ".")
	for i, k := range keys {
		var next *yaml.Node
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == k {
				next = m.Content[j+1]
			}
		}
		if i == len(keys)-1 {
			if next != nil {
				*next = *value
			} else {
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, value)
			}
			return
		}
		if next == nil {
			next = &yaml.Node{Kind: yaml.MappingNode}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, next)
		}
		m = next
	}
}

func valueNode(kind, elem reflect.Kind, v string) *yaml.Node {
	switch kind {
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
	case reflect.Int, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: v}
	case reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{valueNode(elem, 0, v)}}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

var modelOptions = cmp.Options{
	cmpopts.IgnoreUnexported(Plan{}, Node{}),
	cmpopts.IgnoreFields(Plan{}, "File"),
	cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
}

// TestDefaultTagsAreTheDefaults proves that every `+default=` tag in v1alpha1/types.go
// (what docs/plan.md promises) is what a plan that leaves the key out gets: writing the
// documented default explicitly must give exactly the same model. And that each choice
// field is wired: another of its options changes the model.
func TestDefaultTagsAreTheDefaults(t *testing.T) {
	base := readValid(t)
	_, rep := Parse("valid.yaml", base, Options{})
	if len(rep.Findings) != 0 {
		t.Fatalf("the base plan has findings: %v", rep.Findings)
	}
	implicit, _ := Parse("plan.yaml", base, Options{})
	with := func(f documentedField, value string) *Plan {
		t.Helper()
		var doc yaml.Node
		if err := yaml.Unmarshal(base, &doc); err != nil {
			t.Fatal(err)
		}
		setPath(t, doc.Content[0], f.path, valueNode(f.kind, f.elem, value))
		data, err := yaml.Marshal(&doc)
		if err != nil {
			t.Fatal(err)
		}
		p, rep := Parse("plan.yaml", data, Options{})
		if p == nil {
			t.Fatalf("%s: %s: %v", f.path, value, rep.Findings)
		}
		return p
	}
	var defaults []string
	for _, f := range schemaFields(t, reflect.TypeOf(v1alpha1.Plan{}), "") {
		if f.doc.Default == "" {
			continue
		}
		defaults = append(defaults, f.path)
		t.Run(f.path, func(t *testing.T) {
			explicit := with(f, f.doc.Default)
			if diff := cmp.Diff(implicit, explicit, modelOptions); diff != "" {
				t.Errorf("leaving %s out is not the same as writing its documented default %q (-implicit +explicit):\n%s", f.path, f.doc.Default, diff)
			}
			for _, o := range f.doc.Options {
				if o == f.doc.Default {
					continue
				}
				if cmp.Equal(implicit, with(f, o), modelOptions) {
					t.Errorf("%s: %q gives the same model as the default: the value is not used", f.path, o)
				}
			}
		})
	}
	sort.Strings(defaults)
	// The guide's defaults must be among them, documented and applied.
	for _, p := range []string{"cluster.networking.pod_cidr_block", "cluster.networking.service_cidr_block",
		"add_ons.cni.options.calico.as_number", "cluster.certificates.expiry", "cluster.certificates.location.country",
		"cluster.ssh.user", "cluster.ssh.ssh_key"} {
		if i := sort.SearchStrings(defaults, p); i == len(defaults) || defaults[i] != p {
			t.Errorf("%s has no +default tag", p)
		}
	}
}

// TestGuideDefaults pins the guide's defaults themselves.
func TestGuideDefaults(t *testing.T) {
	p, _ := Parse("plan.yaml", readValid(t), Options{})
	got := []any{p.Network.PodCIDR.String(), p.Network.ServiceCIDR.String(), p.Network.ASNumber, p.Certificates.Expiry.String(),
		p.Certificates.Country, p.SSH.User, p.SSH.KeyFile, p.Network.Mode, p.Network.NetworkPolicy}
	want := []any{"172.16.0.0/16", "172.17.0.0/16", uint32(64511), "17520h0m0s", "US", "kismaticuser", "kismaticuser.key", ModeOverlay, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}
