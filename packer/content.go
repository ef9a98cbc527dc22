package packer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// Binary is an artifact the image holds: fetched by the bake script, checked against
// its sha256, its executables installed into Dest and listed in the image manifest.
type Binary struct {
	// Name is the component (roles.CompEtcd, roles.CompKubelet…).
	Name    string
	Version string
	// Kind is "file" (the download is the executable), "tar" (a .tar.gz holding them) or
	// "dirtar" (a .tgz extracted whole into Dest: the CNI plugins).
	Kind string
	// Path is the artifact's path under the mirror (roles.Artifact.MirrorPath) when the
	// plan has a mirror, else the official URL.
	Path string
	// SHA256 is pinned from mirror.checksums; "" when only Sums can check it.
	SHA256 string
	// Sums is the site's sums file (a path under the mirror, or a URL) read at bake time
	// when SHA256 is ""; "" when SHA256 is pinned.
	Sums string
	// Provides lists the executables, as roles.Artifact.Provides (MEMBER=NAME for tar).
	Provides []string
	// Dest is the directory the executables are installed into (roles.BinDir).
	Dest string
}

// Executables are the names of what b installs.
func (b Binary) Executables() []string {
	out := make([]string, 0, len(b.Provides))
	for _, p := range b.Provides {
		out = append(out, p[strings.Index(p, "=")+1:])
	}
	return out
}

// spec is the binary as one word of the bake script's KISGEN_BINARIES:
// NAME|VERSION|KIND|PATH|SHA256|SUMS|PROVIDES|DEST.
func (b Binary) spec() (string, error) {
	fields := []string{b.Name, b.Version, b.Kind, b.Path, dash(b.SHA256), dash(b.Sums), strings.Join(b.Provides, ","), b.Dest}
	for _, f := range fields {
		if f == "" || strings.ContainsAny(f, "| \t\r\n'\"\\") {
			return "", fmt.Errorf("%w: %s: %q is empty or holds white space, a quote, a backslash or '|'", ErrField, b.Name, f)
		}
	}
	return strings.Join(fields, "|"), nil
}

// Archive is a container image archive the image holds (mirror.image_archives),
// imported into containerd's k8s.io namespace at bake time.
type Archive struct {
	// Path is the archive's path under the mirror, as the plan lists it.
	Path   string
	SHA256 string
}

// spec is the archive as one word of KISGEN_IMAGE_ARCHIVES: PATH|SHA256.
func (a Archive) spec() (string, error) {
	for _, f := range []string{a.Path, a.SHA256} {
		if f == "" || strings.ContainsAny(f, "| \t\r\n'\"\\") {
			return "", fmt.Errorf("%w: image archive %q: %q is empty or holds white space, a quote, a backslash or '|'", ErrField, a.Path, f)
		}
	}
	return a.Path + "|" + a.SHA256, nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// content works out what an image for the plan's nodes running osName holds: every
// binary those nodes download, the container runtime included (containerd, runc and the
// CNI plugins at the plan's versions: the bootstrap uses an image's runtime only at those),
// except the Calico manifest (not an executable), and optional artifacts only when pinned; the
// plan's image archives when one of those nodes runs Kubernetes. notes say what was left
// out and why.
func content(p *plan.Plan, osName string, sums map[string]string) (bins []Binary, archives []Archive, notes []string, err error) {
	sub := *p
	sub.Nodes = nil
	kube := false
	for _, n := range p.Nodes {
		if nodeOS(n) == osName {
			sub.Nodes = append(sub.Nodes, n)
			kube = kube || n.IsKubernetesNode()
		}
	}
	base := strings.TrimSuffix(p.Mirror.URL, "/")
	for _, a := range roles.PlanArtifacts(&sub) {
		switch {
		case a.Kind == roles.KindManifest:
			notes = append(notes, fmt.Sprintf("%s %s: not baked (a file the add-ons apply, fetched by the first master)", a.Name, a.Version))
			continue
		case a.Kind != roles.KindFile && a.Kind != roles.KindTar && a.Kind != roles.KindDirTar:
			notes = append(notes, fmt.Sprintf("%s: kind %s is not baked", a.Name, a.Kind))
			continue
		}
		b := Binary{Name: a.Name, Version: a.Version, Kind: a.Kind, Path: a.URL, SHA256: sums[a.MirrorPath], Provides: append([]string(nil), a.Provides...), Dest: a.Dest}
		if base != "" {
			b.Path = a.MirrorPath
		}
		if b.SHA256 == "" {
			if a.Optional {
				notes = append(notes, fmt.Sprintf("%s %s: optional and not in mirror.checksums: not baked", a.Name, a.Version))
				continue
			}
			if a.SumsURL == "" {
				return nil, nil, nil, fmt.Errorf("%w: %s (%s) is not in mirror.checksums and its site publishes no sums: list it in mirror.checksums (`kisgen mirror build` writes SHA256SUMS)", ErrUnpinned, a.Name, a.MirrorPath)
			}
			b.Sums = a.SumsURL
			if base != "" {
				b.Sums = strings.TrimPrefix(a.SumsURL, base+"/")
			}
			notes = append(notes, fmt.Sprintf("%s %s: not pinned in mirror.checksums: checked at bake time against %s", a.Name, a.Version, b.Sums))
		}
		if _, err := b.spec(); err != nil {
			return nil, nil, nil, err
		}
		bins = append(bins, b)
	}
	if kube {
		for _, path := range p.Mirror.ImageArchives {
			sum := sums[path]
			if sum == "" {
				return nil, nil, nil, fmt.Errorf("%w: image archive %s is not in mirror.checksums: run `kisgen mirror build` and point mirror.checksums at its SHA256SUMS", ErrUnpinned, path)
			}
			a := Archive{Path: path, SHA256: sum}
			if _, err := a.spec(); err != nil {
				return nil, nil, nil, err
			}
			archives = append(archives, a)
		}
	}
	return bins, archives, notes, nil
}

// nodeOS is the operating system a node runs.
func nodeOS(n *plan.Node) string {
	if n.Group != nil && n.Group.OS != "" {
		return n.Group.OS
	}
	return plan.DefaultOS
}

// ImageFilesTar is the file of each template directory that holds kisgen's node files
// that read no plan (roles.ImageFiles), each named by its sha256: the bake script keeps
// them in roles.ImageFilesDir, where nodes of a plan with disable_package_installation
// find them instead of in their user-data.
const ImageFilesTar = "kisgen-files.tar"

// imageFilesUpload is where the template uploads ImageFilesTar on the build machine.
const imageFilesUpload = "/tmp/" + ImageFilesTar

// imageFilesTar packs roles.ImageFiles as ImageFilesTar: regular files named by their
// sha256, sorted, with no time or owner, so the same kisgen writes the same bytes.
func imageFilesTar() ([]byte, error) {
	files, err := roles.ImageFiles()
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].SHA256 < files[j].SHA256 })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.SHA256, Mode: 0o644, Size: int64(len(f.Content)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write([]byte(f.Content)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
