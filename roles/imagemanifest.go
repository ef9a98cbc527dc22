package roles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// ImageManifestSchema identifies the image manifest format.
const ImageManifestSchema = "kisgen.io/image-manifest/v1"

// ImageManifest is what an image bake script records at ImageManifestPath: every
// component the image already holds. The bootstrap uses a component from the image
// instead of downloading it when the image has every executable an artifact provides,
// the version equals the plan's (containerd, runc and the CNI plugins of the image are
// used at whatever version the image has) and the file's sha256 matches the manifest.
//
// Component names are executable names (etcd, etcdctl, kube-apiserver, kubelet,
// containerd, containerd-shim-runc-v2, ctr, runc, calicoctl…) plus "cni-plugins",
// whose path is the directory holding the plugins (sha256 empty).
//
// The bootstrap is a shell script and reads the manifest line by line, so the manifest
// must be in the canonical form Marshal writes: one component object per line with the
// keys in the order name, version, path, sha256. ParseImageManifest checks that form.
type ImageManifest struct {
	Schema string `json:"schema"`
	// OS is the image's operating system, e.g. "debian-12".
	OS string `json:"os,omitempty"`
	// Components are sorted by name.
	Components []ImageComponent `json:"components"`
}

// ImageComponent is one binary (or the CNI plugin directory) of an image.
type ImageComponent struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
}

// canonicalComponent is the line form the bootstrap script matches (same expression).
var canonicalComponent = regexp.MustCompile(`^\{"name":"([^"]+)","version":"([^"]*)","path":"([^"]+)","sha256":"([0-9a-f]*)"\},?$`)

// Marshal writes the manifest in its canonical form.
func (m ImageManifest) Marshal() ([]byte, error) {
	comps := append([]ImageComponent(nil), m.Components...)
	sort.Slice(comps, func(i, j int) bool { return comps[i].Name < comps[j].Name })
	var b bytes.Buffer
	schema := m.Schema
	if schema == "" {
		schema = ImageManifestSchema
	}
	fmt.Fprintf(&b, "{\n\"schema\": %s,\n", jsonString(schema))
	if m.OS != "" {
		fmt.Fprintf(&b, "\"os\": %s,\n", jsonString(m.OS))
	}
	b.WriteString("\"components\": [\n")
	for i, c := range comps {
		line, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		if !canonicalComponent.Match(line) {
			return nil, fmt.Errorf("%w: component %q: names, versions and paths cannot hold quotes or backslashes, sha256 is lowercase hex", ErrImageManifest, c.Name)
		}
		b.Write(line)
		if i < len(comps)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n}\n")
	return b.Bytes(), nil
}

// ParseImageManifest reads a manifest and checks that the bootstrap can read it: valid
// JSON, the known schema, and every component on its own line in canonical form.
func ParseImageManifest(data []byte) (*ImageManifest, error) {
	var m ImageManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImageManifest, err)
	}
	if m.Schema != ImageManifestSchema {
		return nil, fmt.Errorf("%w: schema %q, want %q", ErrImageManifest, m.Schema, ImageManifestSchema)
	}
	lines := 0
	for _, l := range strings.Split(string(data), "\n") {
		if canonicalComponent.MatchString(strings.TrimSpace(l)) && l == strings.TrimSpace(l) {
			lines++
		}
	}
	if lines != len(m.Components) {
		return nil, fmt.Errorf("%w: %d of %d components are not one per line in canonical form (write it with roles.ImageManifest.Marshal)", ErrImageManifest, len(m.Components)-lines, len(m.Components))
	}
	return &m, nil
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
