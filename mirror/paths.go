package mirror

// Arch is the only architecture kisgen nodes run.
const Arch = "amd64"

// ChecksumsFile is the mirror's top-level "<sha256>  <path>" list, which a plan's
// mirror.checksums points to. Paths are the artifacts' MirrorPath (roles.Artifact): the
// official URL without its scheme, so a node's download URL is mirror.url + "/" + path.
const ChecksumsFile = "SHA256SUMS"

// ImagesDir is where air-gapped container image archives live in a mirror.
const ImagesDir = "images"
