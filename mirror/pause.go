package mirror

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/kisgen/kisgen/roles"
)

//go:embed pause/main.go
var pauseSource []byte

// PauseArchivePath is where the pause image archive of a version lives in a mirror.
func PauseArchivePath(version string) string {
	return roles.ImageArchivePath(roles.ImagePause, version)
}

// PauseArchive builds kisgen's pause binary (mirror/pause) with the local Go toolchain and
// packs it as an image archive tagged ref (e.g. registry.k8s.io/pause:3.10.1). The binary
// is cached in cacheDir by the hash of its source and the Go version.
func PauseArchive(ctx context.Context, ref, cacheDir string, log io.Writer) ([]byte, error) {
	data, err := embeddedBinary(ctx, "pause", pauseSource, cacheDir, log)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := WriteImageArchive(&buf, ImageSpec{Ref: ref, Entrypoint: []string{"/pause"},
		Files: []ArchiveFile{{Name: "pause", Mode: 0o755, Data: data}}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// embeddedBinary builds one file of standard-library Go that kisgen carries (the pause
// binary, the declared-ports controller) as a static linux/amd64 binary named name, with
// the local Go toolchain. The binary is cached in cacheDir by the hash of its source and
// the Go version.
func embeddedBinary(ctx context.Context, name string, source []byte, cacheDir string, log io.Writer) ([]byte, error) {
	h := sha256.Sum256(append(append([]byte(nil), source...), runtime.Version()...))
	bin := filepath.Join(cacheDir, name+"-"+hex.EncodeToString(h[:8]))
	if data, err := os.ReadFile(bin); err == nil {
		return data, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Dir(bin), "."+name+"-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module kisgen.local/"+name+"\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, "main.go"), source, 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "mirror: building the %s binary\n", name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", name, ".")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the %s binary: %w\n%s", name, err, out)
	}
	// Rename is atomic: a concurrent build of the same source writes the same bytes.
	if err := os.Rename(filepath.Join(work, name), bin); err != nil {
		return nil, err
	}
	return os.ReadFile(bin)
}
