// Package filehash sums files the way kisgen pins them: the hex sha256 of the whole file,
// streamed, as SHA256SUMS lists it. The mirror, the PXE bundle and the Calico build share it.
package filehash
