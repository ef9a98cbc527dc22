package cachedir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Env overrides the default cache directory; a --cache flag overrides Env.
const Env = "KISGEN_CACHE"

// Subdirectories of the cache.
const (
	// BinDir holds binaries built from the Go module proxy, one folder per version.
	BinDir = "bin"
	// ImagesDir holds content-addressed image builds (builds/) and the published image
	// of each operating system (images/OS), where the qemu provider finds images by name.
	ImagesDir = "images"
)

// Dir returns kisgen's cache directory, absolute: flag when it is not empty, else
// $KISGEN_CACHE, else $XDG_CACHE_HOME/kisgen, else ~/.cache/kisgen. A relative flag or
// KISGEN_CACHE is taken from the current directory; a relative XDG_CACHE_HOME is ignored,
// as the XDG base directory specification asks.
func Dir(flag string) (string, error) {
	dir := flag
	if dir == "" {
		dir = os.Getenv(Env)
	}
	if dir == "" {
		if x := os.Getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
			dir = filepath.Join(x, "kisgen")
		}
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			return "", fmt.Errorf("%w: set %s or give --cache (%v)", ErrNoCache, Env, err)
		}
		dir = filepath.Join(home, ".cache", "kisgen")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNoCache, dir, err)
	}
	return abs, nil
}

// Bin returns Dir(flag)/bin, where etcd and Kubernetes builds are cached per version.
func Bin(flag string) (string, error) { return sub(flag, BinDir) }

// Images returns Dir(flag)/images, where images are built and published.
func Images(flag string) (string, error) { return sub(flag, ImagesDir) }

func sub(flag, name string) (string, error) {
	d, err := Dir(flag)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

// FlagUsage is the --cache flag's help text, the same for every command that has one.
const FlagUsage = "kisgen's cache of built binaries (CACHE/bin) and images (CACHE/images), shared by every plan and checkout (default: $" + Env + ", else $XDG_CACHE_HOME/kisgen, else ~/.cache/kisgen)"
