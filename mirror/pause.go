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
	h := sha256.Sum256(append(append([]byte(nil), pauseSource...), runtime.Version()...))
	bin := filepath.Join(cacheDir, "pause-"+hex.EncodeToString(h[:8]))
	data, err := os.ReadFile(bin)
	if err != nil {
		if data, err = buildPause(ctx, bin, log); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := WriteImageArchive(&buf, ImageSpec{Ref: ref, Entrypoint: []string{"/pause"},
		Files: []ArchiveFile{{Name: "pause", Mode: 0o755, Data: data}}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func buildPause(ctx context.Context, bin string, log io.Writer) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Dir(bin), ".pause-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte("module kisgen.local/pause\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, "main.go"), pauseSource, 0o644); err != nil {
		return nil, err
	}
	fmt.Fprintln(log, "mirror: building the pause binary")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "pause", ".")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the pause binary: %w\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(work, "pause"), bin); err != nil {
		return nil, err
	}
	return os.ReadFile(bin)
}
