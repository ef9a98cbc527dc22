package roles

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

// Files the same on every node that has them (the kisgen scripts and shell library, the
// first master's add-on manifests, containerd's configuration) are most of a node's
// user-data. Where a node can get them otherwise, the user-data names them by sha256 in
// FetchListPath and FetchScript puts them in place before the bootstrap:
//   - from the plan's mirror: `kisgen mirror build` writes them at NodeFileMirrorPath, and
//     the mirror's SHA256SUMS, read as mirror.checksums, both pins them and tells render
//     that the mirror has them. A file the checksums do not list (no mirror, a mirror
//     built for another plan or by an older kisgen) stays in the user-data;
//   - from the image: an image `kisgen packer` baked holds what kisgen renders without a
//     plan (ImageFiles: its scripts, the add-on bases) in ImageFilesDir, and a plan that
//     installs nothing at boot (disable_package_installation: its nodes run such an
//     image) names them only.
// A plan with neither renders every file inline.

// NodeFilesMirrorDir is where, under a mirror's root, `kisgen mirror build` writes the
// shared node files, each named by its sha256.
const NodeFilesMirrorDir = "kisgen/files"

// NodeFileMirrorPath is the path under a mirror's root of a shared node file.
func NodeFileMirrorPath(sha256 string) string { return NodeFilesMirrorDir + "/" + sha256 }

// ImageFilesDir is where an image `kisgen packer` baked keeps ImageFiles, each named by
// its sha256: FetchScript looks there before any download.
const ImageFilesDir = "/opt/kisgen/share/files"

// ImageFilePath is the path on a baked image of the kisgen file with that sha256.
func ImageFilePath(sha256 string) string { return ImageFilesDir + "/" + sha256 }

// FetchFromImage is File.Fetch of a file the node takes from its image's ImageFilesDir
// only (no mirror lists it); in FetchListPath its URL is "-".
const FetchFromImage = "image"

// ImageFiles are the files an image `kisgen packer` bakes into ImageFilesDir: what
// kisgen renders without reading a plan, the same for every plan: its scripts (the shell
// library, the bootstrap, the pre-flight checks, the add-ons script) and the bases of
// the CoreDNS and metrics-server add-ons. An image baked by another kisgen version holds
// other sums, and its nodes say so (FetchScript).
func ImageFiles() ([]File, error) {
	files, err := renderScripts(nodeLayout(""), true)
	if err != nil {
		return nil, err
	}
	bases, err := addOnBases()
	if err != nil {
		return nil, err
	}
	for _, b := range bases {
		files = append(files, b.baseFile())
	}
	for i := range files {
		files[i].SHA256 = sha256Hex(files[i].Content)
	}
	return files, nil
}

// imageSums is the set of ImageFiles' sums (they are the same for every plan: rendered
// once).
var imageSums = sync.OnceValues(func() (map[string]bool, error) {
	files, err := ImageFiles()
	sums := map[string]bool{}
	for _, f := range files {
		sums[f.SHA256] = true
	}
	return sums, err
})

// FetchMinBytes is the smallest shared file a node downloads: below it, the line naming
// the file in FetchListPath (its sha256 does not compress) costs about as much user-data
// as the file itself.
const FetchMinBytes = 512

// SharedFiles lists every file of the plan's nodes that is the same on every node that
// has it, with its SHA256: what `kisgen mirror build` writes under NodeFilesMirrorDir.
// It reads neither the PKI nor the SSH key.
func SharedFiles(p *plan.Plan, in Inputs) ([]File, error) {
	c, err := newCluster(p, nil, in)
	if err != nil {
		return nil, err
	}
	return c.SharedFiles(), nil
}

// SharedFiles lists the files the same on every node that has them, with their SHA256.
func (c *Cluster) SharedFiles() []File {
	var out []File
	for _, set := range [][]File{c.scripts, c.common, c.addons} {
		out = append(out, set...)
	}
	return out
}

// markFetched sets Fetch on the shared files the node gets without its user-data: from
// the mirror when the plan lets nodes download (a baked image with
// disable_package_installation may have no way to the mirror), the file is big enough
// to be worth a download, and mirror.checksums lists it with its sum; else from the
// image when the plan's nodes run a baked image (no package installation) and the file
// is one of ImageFiles. A mirror that lists some shared files but not all was built for
// an older version of the plan (or by another kisgen): render still works, with those
// files inline, and says so.
func (c *Cluster) markFetched() error {
	base := strings.TrimSuffix(c.p.Mirror.URL, "/")
	mirror := base != "" && c.p.PackageInstallation && len(c.in.Checksums) > 0
	var baked map[string]bool
	if !c.p.PackageInstallation {
		var err error
		if baked, err = imageSums(); err != nil {
			return err
		}
	}
	listed, missing := 0, 0
	for _, set := range [][]File{c.scripts, c.common, c.addons} {
		for i := range set {
			f := &set[i]
			if baked[f.SHA256] {
				f.Fetch = FetchFromImage
				continue
			}
			if !mirror || len(f.Content) < FetchMinBytes {
				continue
			}
			mp := NodeFileMirrorPath(f.SHA256)
			if c.in.Checksums[mp] != f.SHA256 {
				missing++
				continue
			}
			listed++
			f.Fetch = base + "/" + mp
		}
	}
	if listed > 0 && missing > 0 {
		c.warnings = append(c.warnings, fmt.Sprintf("%d of the files shared by the nodes (kisgen scripts, add-on manifests) are not in the mirror's checksums and travel in the user-data: "+
			"run `kisgen mirror build` again for this plan, then render, for smaller user-data", missing))
	}
	return nil
}

// renderFetcher renders FetchScript once (it is the same on every node that downloads).
func (c *Cluster) renderFetcher() error {
	d := c.layout()
	text, err := templates.Execute("kisgen-fetch", d)
	if err != nil {
		return err
	}
	c.fetcher = File{Path: FetchScript, Mode: 0o755, Content: templates.CompactScript(text), What: "kisgen download of the shared files"}
	return nil
}

// fetchList writes FetchListPath and FetchScript when some of the node's files are
// downloaded, and returns the command kisgen-install.service runs first ("" if none).
func (b *builder) fetchList() (string, error) {
	var fetched []File
	for _, f := range b.files {
		if f.Fetch != "" {
			fetched = append(fetched, f)
		}
	}
	sort.Slice(fetched, func(i, j int) bool { return fetched[i].Path < fetched[j].Path })
	var list strings.Builder
	for _, f := range fetched {
		if list.Len() == 0 {
			list.WriteString("# Written by kisgen: PATH MODE SHA256 URL (tab-separated; URL - : only from the image's " + ImageFilesDir + "), put in place by " + FetchScript + ".\n")
		}
		url := f.Fetch
		if url == FetchFromImage {
			url = "-"
		}
		fmt.Fprintf(&list, "%s\t%#04o\t%s\t%s\n", f.Path, f.Mode.Perm(), f.SHA256, url)
	}
	if list.Len() == 0 {
		return "", nil
	}
	if err := b.add(b.c.fetcher); err != nil {
		return "", err
	}
	if err := b.file(FetchListPath, 0o644, "files downloaded from the mirror", list.String()); err != nil {
		return "", err
	}
	return FetchScript, nil
}
