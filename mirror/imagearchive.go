package mirror

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ArchiveFile is one file of a container image's single layer.
type ArchiveFile struct {
	// Name is the path inside the image, without a leading slash, e.g. "pause".
	Name string
	Mode int64
	Data []byte
}

// ImageSpec describes a single-layer container image to pack as an archive.
type ImageSpec struct {
	// Ref is the full image reference the archive is tagged with, e.g.
	// registry.k8s.io/pause:3.10.1.
	Ref        string
	Files      []ArchiveFile
	Entrypoint []string
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
	if !strings.Contains(spec.Ref, ":") || strings.HasSuffix(spec.Ref, ":") {
		return fmt.Errorf("image reference %q: want NAME:TAG", spec.Ref)
	}
	files := append([]ArchiveFile(nil), spec.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, f := range files {
		if err := lw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(f.Name, "/"), Mode: f.Mode, Size: int64(len(f.Data)),
			Typeflag: tar.TypeReg, ModTime: tarTime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := lw.Write(f.Data); err != nil {
			return err
		}
	}
	if err := lw.Close(); err != nil {
		return err
	}
	layerDigest := "sha256:" + sha256Hex(layer.Bytes())

	config, err := json.Marshal(map[string]any{
		"architecture": Arch,
		"os":           "linux",
		"created":      tarTime.Format("2006-01-02T15:04:05Z"),
		"config":       map[string]any{"Entrypoint": spec.Entrypoint},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
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
		"layers":        []descriptor{{MediaType: mediaLayer, Digest: layerDigest, Size: int64(layer.Len())}},
	})
	if err != nil {
		return err
	}
	manifestDigest := "sha256:" + sha256Hex(manifest)
	tag := spec.Ref[strings.LastIndex(spec.Ref, ":")+1:]
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []descriptor{{MediaType: mediaManifest, Digest: manifestDigest, Size: int64(len(manifest)),
			Annotations: map[string]string{"io.containerd.image.name": spec.Ref, "org.opencontainers.image.ref.name": tag},
			Platform:    &platform{Architecture: Arch, OS: "linux"}}},
	})
	if err != nil {
		return err
	}
	blob := func(d string) string { return "blobs/sha256/" + strings.TrimPrefix(d, "sha256:") }
	dockerManifest, err := json.Marshal([]map[string]any{{
		"Config": blob(configDigest), "RepoTags": []string{spec.Ref}, "Layers": []string{blob(layerDigest)},
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
