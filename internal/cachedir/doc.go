// Package cachedir says where kisgen keeps what it builds once and reuses everywhere: the
// etcd and Kubernetes binaries built from the Go module proxy (Bin) and the VM images
// `kisgen image build` bakes (Images). The cache is per user, not per checkout or plan, so
// a second clone, another plan or a CI run on the same machine reuses a 20-minute
// Kubernetes build instead of repeating it.
//
// The directory is, in order: the command's --cache flag, $KISGEN_CACHE,
// $XDG_CACHE_HOME/kisgen, ~/.cache/kisgen. It is always returned absolute, because the
// Go toolchain, mmdebstrap, qemu and packer run it in directories of their own (`go
// install` refuses a relative GOBIN outright).
package cachedir
