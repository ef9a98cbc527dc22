// Package mirror builds and serves the files nodes download when they install
// themselves: etcd and the Kubernetes binaries built from the Go module proxy
// (internal/binbuild), laid out exactly as the official download sites publish them
// under a first path segment naming the site (dl.k8s.io/release/v1.37.2/bin/linux/amd64/kubelet,
// github.com/etcd-io/etcd/releases/download/v3.7.3/etcd-v3.7.3-linux-amd64.tar.gz), with the
// sites' own checksum files, air-gapped container image archives under images/, and a
// top-level SHA256SUMS that a plan's mirror.checksums points to so the sums are pinned in
// the user-data. A node builds a download URL as plan mirror URL + "/" + Path(...).
package mirror
