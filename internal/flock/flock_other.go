//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package flock

import "os"

// lockFile is a no-op where flock(2) does not exist: runs are not serialized there.
func lockFile(*os.File) error { return nil }
