// Package binbuild builds the etcd and Kubernetes release binaries nodes install from the
// Go module proxy, for an offline mirror and for tests that run real etcd and
// kube-apiserver. A wrapper module pins each release (the pinned go.mod and go.sum of the
// default versions are embedded); builds are cached per version and moved into place only
// when complete, with a SHA256SUMS file.
package binbuild
