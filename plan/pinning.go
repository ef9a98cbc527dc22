package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// AdminManifest is a manifest a node downloads and applies with cluster-admin rights.
type AdminManifest struct {
	// Path is the file's MirrorPath: its official URL without https://, the key of
	// mirror.checksums.
	Path string
	// What names it in findings.
	What string
	// Key is the plan key that decides which file it is, where findings point.
	Key string
}

// AdminManifests lists the manifests p's first master downloads and applies as
// cluster-admin: the upstream Calico manifest when the CNI provider is calico. It must
// agree with roles' artifacts of kind manifest (a roles test holds the two together).
func AdminManifests(p *Plan) []AdminManifest {
	var out []AdminManifest
	if !p.Network.CNIDisabled && p.Network.CNIProvider == "calico" {
		out = append(out, AdminManifest{Path: "raw.githubusercontent.com/projectcalico/calico/" + p.Versions.Calico + "/manifests/calico.yaml",
			What: "the Calico manifest " + p.Versions.Calico, Key: "versions.calico"})
	}
	return out
}

// knownSHA256 are the sums kisgen carries for upstream files that their sites publish no
// sum for, by MirrorPath: the Calico manifest of the default version, read from the
// release's source (git archive of tag v3.32.1; raw.githubusercontent.com serves the
// same blob).
var knownSHA256 = map[string]string{
	"raw.githubusercontent.com/projectcalico/calico/v3.32.1/manifests/calico.yaml": "a1df919d9721cf667accdc3e72848911b0cb25cfab7d2478ad0c996302c95744",
}

// KnownSHA256 returns the sha256 kisgen itself knows for a file by its MirrorPath, or "".
func KnownSHA256(mirrorPath string) string { return knownSHA256[mirrorPath] }

// notPinned ends the pinning rule's messages (ForgiveUnbuiltChecksums recognises them).
const notPinned = "without a pinned sha256"

// validatePinning refuses a plan whose nodes would use something without a sha256 pinned
// in their user-data, where a check against a sum fetched from the same place would prove
// nothing:
//
//   - a manifest applied as cluster-admin (AdminManifests): it controls the whole
//     cluster, and its site publishes no sum. It is pinned by mirror.checksums or by a sum
//     kisgen knows (KnownSHA256).
//   - an image archive (mirror.image_archives): imported into containerd and run as the
//     cluster's pods, some privileged; only mirror.checksums can pin it.
//
// Binaries are accepted with the sums their release site publishes (dl.k8s.io's .sha256,
// the GitHub releases' sums files): from the official sites over HTTPS that is the check
// the projects themselves document, made against the project's own domain, and it keeps
// a plan without a mirror usable at any version without copying sums by hand. A binary
// runs with root rights on one node, where a manifest runs with the rights of the whole
// cluster; through a mirror without mirror.checksums the sums come from that mirror too,
// which validateMirror warns about. When mirror.checksums names a file that is not built
// yet, its own error stands and pins are not checked.
func validatePinning(p *Plan, f findings, root *os.Root) {
	sums, known := map[string]string{}, false
	if p.Mirror.ChecksumsFile != "" {
		if root == nil {
			// Parsed without a file system: the file cannot be read, trust that it pins.
			return
		}
		data, err := readConfined(root, p.Mirror.ChecksumsFile)
		if errors.Is(err, fs.ErrNotExist) || err != nil {
			return // validateMirror reports it
		}
		if sums, err = ParseChecksums(data); err != nil {
			return
		}
		known = true
	}
	fix := "run `kisgen mirror build` (it sums every file it writes) and set mirror.checksums to its SHA256SUMS"
	if known {
		fix = "add the file's sha256 to " + p.Mirror.ChecksumsFile + ": run `kisgen mirror build` again, or append \"<sha256>  PATH\""
	}
	for _, m := range AdminManifests(p) {
		if sums[m.Path] != "" || KnownSHA256(m.Path) != "" {
			continue
		}
		hint := fix
		if p.Versions.Calico != DefaultCalicoVersion {
			hint += fmt.Sprintf(" (kisgen knows the sum of Calico %s's manifest only: versions.calico %s needs mirror.checksums)", DefaultCalicoVersion, p.Versions.Calico)
		}
		f.errorf(m.Key, hint, "%s (%s) would be applied as cluster-admin %s", m.What, m.Path, notPinned)
	}
	for i, a := range p.Mirror.ImageArchives {
		if sums[a] != "" || !archivePathOK(a) {
			continue
		}
		f.errorf(fmt.Sprintf("mirror.image_archives[%d]", i), fix, "image archive %s would be imported into containerd %s", a, notPinned)
	}
}
