package mirror

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ArchiveFile is one entry of a container image's single layer: a regular file unless
// Type says otherwise.
type ArchiveFile struct {
	// Name is the path inside the image, without a leading slash, e.g. "pause".
	Name string
	Mode int64
	Data []byte
	// Type is a tar type flag: tar.TypeReg (or 0), tar.TypeDir or tar.TypeSymlink, whose
	// target is Linkname. A root file system (ReadRootFS) needs all three.
	Type     byte
	Linkname string
	// UID and GID own the entry (0: root).
	UID, GID int
}

// ImageSpec describes a single-layer container image to pack as an archive.
type ImageSpec struct {
	// Ref is the full image reference the archive is tagged with, e.g.
	// registry.k8s.io/pause:3.10.1.
	Ref string
	// Aliases are more references of the same image (the same manifest), each its own
	// entry of index.json and RepoTags: an importer creates one image name per reference
	// and stores the content once.
	Aliases []string
	// Files are the layer's entries. When two have the same name the later one wins, so
	// files laid over a root file system replace its own.
	Files      []ArchiveFile
	Entrypoint []string
	// Cmd, Env ("NAME=value"), User and WorkingDir go to the image configuration as an
	// OCI image config holds them; empty ones are left out.
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
	// GzipLayer stores the layer gzip-compressed (big root file systems); the
	// configuration's diff_id stays the digest of the uncompressed tar, as the OCI
	// image specification requires.
	GzipLayer bool
}

// Media types of the OCI image specification.
const (
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// WriteImageArchive writes spec as a tarball that is both an OCI image layout
// (oci-layout, index.json, blobs/sha256/…) and a docker-archive (manifest.json with
// RepoTags), the format `docker save` and `ctr images export` write, so
// `ctr -n k8s.io images import` and `docker load` both take it. The output is
// deterministic: fixed times and owners, sorted entries.
func WriteImageArchive(w io.Writer, spec ImageSpec) error {
	refs := append([]string{spec.Ref}, spec.Aliases...)
	for _, ref := range refs {
		if !strings.Contains(ref, ":") || strings.HasSuffix(ref, ":") {
			return fmt.Errorf("image reference %q: want NAME:TAG", ref)
		}
	}
	layer, err := layerTar(spec.Files)
	if err != nil {
		return err
	}
	diffID := "sha256:" + sha256Hex(layer.Bytes())
	layerMedia := mediaLayer
	if spec.GzipLayer {
		var z bytes.Buffer
		// No name or time in the gzip header: the same layer gives the same bytes.
		zw, err := gzip.NewWriterLevel(&z, gzip.BestSpeed)
		if err != nil {
			return err
		}
		if _, err := zw.Write(layer.Bytes()); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		layer, layerMedia = &z, mediaLayer+"+gzip"
	}
	layerDigest := "sha256:" + sha256Hex(layer.Bytes())

	cfg := map[string]any{"Entrypoint": spec.Entrypoint}
	// Only what is set: the pause image's configuration stays byte for byte what it was.
	if len(spec.Cmd) > 0 {
		cfg["Cmd"] = spec.Cmd
	}
	if len(spec.Env) > 0 {
		cfg["Env"] = spec.Env
	}
	if spec.User != "" {
		cfg["User"] = spec.User
	}
	if spec.WorkingDir != "" {
		cfg["WorkingDir"] = spec.WorkingDir
	}
	config, err := json.Marshal(map[string]any{
		"architecture": Arch,
		"os":           "linux",
		"created":      tarTime.Format("2006-01-02T15:04:05Z"),
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]string{{"created": tarTime.Format("2006-01-02T15:04:05Z"), "created_by": "kisgen mirror"}},
	})
	if err != nil {
		return err
	}
	configDigest := "sha256:" + sha256Hex(config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        descriptor{MediaType: mediaConfig, Digest: configDigest, Size: int64(len(config))},
		"layers":        []descriptor{{MediaType: layerMedia, Digest: layerDigest, Size: int64(layer.Len())}},
	})
	if err != nil {
		return err
	}
	manifestDigest := "sha256:" + sha256Hex(manifest)
	manifests := make([]descriptor, 0, len(refs))
	for _, ref := range refs {
		tag := ref[strings.LastIndex(ref, ":")+1:]
		manifests = append(manifests, descriptor{MediaType: mediaManifest, Digest: manifestDigest, Size: int64(len(manifest)),
			Annotations: map[string]string{"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag},
			Platform:    &platform{Architecture: Arch, OS: "linux"}})
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     manifests,
	})
	if err != nil {
		return err
	}
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	dockerManifest, err := json.Marshal([]map[string]any{{
		"Config": blob(configDigest), "RepoTags": refs, "Layers": []string{blob(layerDigest)},
	}})
	if err != nil {
		return err
	}

	entries := map[string][]byte{
		"oci-layout":         []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"index.json":         index,
		"manifest.json":      dockerManifest,
		blob(layerDigest):    layer.Bytes(),
		blob(configDigest):   config,
		blob(manifestDigest): manifest,
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: tarTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(entries[n])), Typeflag: tar.TypeReg, ModTime: tarTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(entries[n]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layerTar packs files as an image layer: entries sorted by name (a directory before what
// it holds), the last of equal names kept, fixed times, numeric owners only.
func layerTar(in []ArchiveFile) (*bytes.Buffer, error) {
	files := make([]ArchiveFile, 0, len(in))
	for _, f := range in {
		f.Name = strings.Trim(f.Name, "/")
		if f.Name != "" && f.Name != "." {
			files = append(files, f)
		}
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for i, f := range files {
		if i+1 < len(files) && files[i+1].Name == f.Name {
			continue
		}
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Uid: f.UID, Gid: f.GID, ModTime: tarTime, Format: tar.FormatPAX}
		switch f.Type {
		case 0, tar.TypeReg:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
		case tar.TypeDir:
			h.Typeflag, h.Name = tar.TypeDir, f.Name+"/"
		case tar.TypeSymlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Linkname
		default:
			return nil, fmt.Errorf("image layer entry %s: tar type %q is not supported", f.Name, f.Type)
		}
		if err := lw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := lw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	return &layer, lw.Close()
}
