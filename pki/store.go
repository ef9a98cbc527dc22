package pki

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/flock"
	"github.com/kisgen/kisgen/internal/keyperm"
)

// Layout of the state directory (see doc.go). Only these directories belong to pki; the
// rest of the state directory is other packages' business.
const (
	pkiDir        = "pki"
	nodesDir      = "nodes"
	kubeconfigDir = "kubeconfig"
	sshDir        = "ssh"
	lockFile      = ".lock" // under pki/: held while Ensure or a rotation step runs
	knownHosts    = "known_hosts"
	nextDir       = "next"     // under pki/: the incoming CA of a rotation
	previousDir   = "previous" // under pki/: the outgoing CA, still trusted
	retiredDir    = "retired"  // under pki/: every CA key kisgen replaced, kept forever

	certSuffix       = ".pem"
	keySuffix        = "-key.pem"
	pubSuffix        = ".pub"
	kubeconfigSuffix = ".conf"

	dirPerm    = 0o700
	keyPerm    = 0o600
	publicPerm = 0o644
)

func certFile(dir, name string) string { return filepath.Join(dir, name+certSuffix) }
func keyFile(dir, name string) string  { return filepath.Join(dir, name+keySuffix) }

// isTemp reports whether name is an atomic-write temporary file (".NAME.tmp-RANDOM"),
// which an interrupted run may leave behind.
func isTemp(name string) bool { return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-") }

// file is one file read from the state directory.
type file struct {
	path string
	data []byte
}

// pkiFiles is the content of one pki directory (pki/, pki/next/ or pki/previous/),
// classified by PEM content: a certificate file NAME.pem, a private key NAME-key.pem, a
// public key NAME.pub. Classifying by content keeps names ending in "-key" unambiguous.
type pkiFiles struct {
	dir   string
	certs map[string]file
	keys  map[string]file
	pubs  map[string]file
	empty map[string]bool // paths of zero-length files (a leaf lost in a crash)
}

// readPKIDir reads every file of dir. Subdirectories named in subdirs are skipped;
// anything else that is not a PEM certificate, key or public key named as kisgen names
// them is an error naming the file.
func readPKIDir(dir string, subdirs ...string) (*pkiFiles, error) {
	f := &pkiFiles{dir: dir, certs: map[string]file{}, keys: map[string]file{}, pubs: map[string]file{}, empty: map[string]bool{}}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	allowed := map[string]bool{}
	for _, s := range subdirs {
		allowed[s] = true
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if isTemp(name) || name == lockFile {
			continue
		}
		if e.IsDir() {
			if !allowed[name] {
				errs = append(errs, fmt.Errorf("%w: %s is a directory kisgen does not use: move it out of the state directory", ErrForeign, path))
			}
			continue
		}
		if !e.Type().IsRegular() {
			errs = append(errs, fmt.Errorf("%w: %s is not a regular file: move it out of the state directory", ErrForeign, path))
			continue
		}
		if !strings.HasSuffix(name, certSuffix) && !strings.HasSuffix(name, pubSuffix) {
			errs = append(errs, fmt.Errorf("%w: %s: kisgen keeps only NAME.pem, NAME-key.pem and NAME.pub files here: move it out of the state directory", ErrForeign, path))
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(bytes.TrimSpace(data)) == 0 {
			f.empty[path] = true
			base := strings.TrimSuffix(strings.TrimSuffix(name, certSuffix), pubSuffix)
			if strings.HasSuffix(name, keySuffix) {
				f.keys[strings.TrimSuffix(name, keySuffix)] = file{path: path}
			} else if strings.HasSuffix(name, pubSuffix) {
				f.pubs[base] = file{path: path}
			} else {
				f.certs[base] = file{path: path}
			}
			continue
		}
		block, _ := pem.Decode(data)
		switch {
		case block == nil:
			errs = append(errs, fmt.Errorf("%w: %s holds no PEM data: restore it from a backup, or delete it to have it issued again (never delete a CA key)", ErrCorrupt, path))
		case strings.HasSuffix(name, pubSuffix):
			if block.Type != "PUBLIC KEY" {
				errs = append(errs, fmt.Errorf("%w: %s holds a %q PEM block, want PUBLIC KEY", ErrCorrupt, path, block.Type))
				continue
			}
			f.pubs[strings.TrimSuffix(name, pubSuffix)] = file{path, data}
		case block.Type == "CERTIFICATE":
			f.certs[strings.TrimSuffix(name, certSuffix)] = file{path, data}
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			if !strings.HasSuffix(name, keySuffix) {
				errs = append(errs, fmt.Errorf("%w: %s holds a private key but is not named NAME-key.pem", ErrForeign, path))
				continue
			}
			f.keys[strings.TrimSuffix(name, keySuffix)] = file{path, data}
		default:
			errs = append(errs, fmt.Errorf("%w: %s holds a %q PEM block, not a certificate or private key", ErrForeign, path, block.Type))
		}
	}
	return f, errors.Join(errs...)
}

// writer writes the state directory. Secrets that must never be replaced (CA and
// service-account keys) go through atomicfile.CreateExclusive with an fsync each. Leaf
// files, kubeconfigs and host keys are written with temp file + rename but no fsync per
// file; Sync then flushes the whole filesystem once (syncfs on Linux). A crash before
// that sync can leave a new leaf file empty, never torn: Ensure issues an empty leaf
// again. See doc.go for the measurements behind this choice.
type writer struct {
	mu      sync.Mutex
	written []string
	// fsyncEach forces an fsync per file (the slow path, kept for the benchmark).
	fsyncEach bool
}

// replace writes data to path atomically (temp file in the same directory, rename).
func (w *writer) replace(path string, data []byte, perm os.FileMode) error {
	if w.fsyncEach {
		return atomicfile.WriteFile(path, data, perm)
	}
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	w.mu.Lock()
	w.written = append(w.written, path)
	w.mu.Unlock()
	return nil
}

// create writes a file that must not exist yet, durably.
func (w *writer) create(path string, data []byte, perm os.FileMode) error {
	return atomicfile.CreateExclusive(path, data, perm)
}

// sync makes everything replace wrote durable.
func (w *writer) sync(root string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.written) == 0 || w.fsyncEach {
		return nil
	}
	err := syncAll(root, w.written)
	w.written = nil
	return err
}

// prepareDirs creates the state directory and pki's directories with mode 0700,
// tightening them if they exist with wider modes.
func prepareDirs(stateDir string) error {
	for _, d := range []string{stateDir, filepath.Join(stateDir, pkiDir), filepath.Join(stateDir, nodesDir), filepath.Join(stateDir, kubeconfigDir), filepath.Join(stateDir, sshDir)} {
		if err := os.MkdirAll(d, dirPerm); err != nil {
			return err
		}
		st, err := os.Stat(d)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%w: %s is not a directory", ErrForeign, d)
		}
		if st.Mode().Perm() != dirPerm {
			if err := os.Chmod(d, dirPerm); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTemps removes the temporary files an interrupted run left behind.
func removeTemps(stateDir string) error {
	for _, d := range []string{pkiDir, filepath.Join(pkiDir, nextDir), filepath.Join(pkiDir, previousDir), filepath.Join(pkiDir, retiredDir), nodesDir, kubeconfigDir, sshDir} {
		entries, err := os.ReadDir(filepath.Join(stateDir, d))
		if err != nil {
			continue
		}
		for _, e := range entries {
			if isTemp(e.Name()) && e.Type().IsRegular() {
				if err := os.Remove(filepath.Join(stateDir, d, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// lockState takes an exclusive lock on the state directory's PKI, so that two kisgen
// processes never issue into it at the same time.
func lockState(stateDir string) (func(), error) {
	return flock.Lock(filepath.Join(stateDir, pkiDir, lockFile))
}

// checkForeign reports every file in nodes/, kubeconfig/ and ssh/ that kisgen would not
// write.
func checkForeign(stateDir string) error {
	_, err1 := listFiles(filepath.Join(stateDir, kubeconfigDir), "kubeconfig files NAME"+kubeconfigSuffix, kubeconfigSuffix)
	_, err2 := listFiles(filepath.Join(stateDir, nodesDir), "node files HOST"+certSuffix, certSuffix)
	_, err3 := listFiles(filepath.Join(stateDir, sshDir), knownHosts, knownHosts)
	return errors.Join(err1, err2, err3)
}

// listFiles returns the regular, non-temporary file names in dir with one of suffixes,
// sorted.
// Any other file is an error naming it.
func listFiles(dir, what string, suffixes ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if isTemp(name) {
			continue
		}
		if !e.Type().IsRegular() || !slices.ContainsFunc(suffixes, func(s string) bool { return strings.HasSuffix(name, s) }) {
			errs = append(errs, fmt.Errorf("%w: %s: only %s belong in %s: move it out of the state directory", ErrForeign, filepath.Join(dir, name), what, dir))
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out, errors.Join(errs...)
}

// tightenKeys makes every file of the state directory that holds a private key 0600
// when its group or others could read it (a copy or an unpack with a loose umask), and
// returns a warning for each (see internal/keyperm: tighten and warn, refuse only what
// cannot be tightened). Keys: pki/ (with next/, previous/, retired/) *-key.pem, every
// nodes/HOST.pem, every kubeconfig/*.conf (each embeds a client key).
func tightenKeys(stateDir string) ([]string, error) {
	type place struct{ dir, suffix, what, advice string }
	caAdvice := "treat the key as leaked: rotate it (`kisgen certs rotate`, `--ca=NAME` for a CA; see docs/pki.md)"
	places := []place{
		{filepath.Join(stateDir, pkiDir), keySuffix, "a private key of the cluster PKI", caAdvice},
		{filepath.Join(stateDir, pkiDir, nextDir), keySuffix, "the incoming CA's key", caAdvice},
		{filepath.Join(stateDir, pkiDir, previousDir), keySuffix, "the outgoing CA's key", caAdvice},
		{filepath.Join(stateDir, pkiDir, retiredDir), keySuffix, "a retired CA's key", "anything that still trusts that CA can be impersonated: remove the CA from it"},
		{filepath.Join(stateDir, nodesDir), certSuffix, "a node's keys", "rotate that node's certificates (`kisgen certs rotate`) and render again"},
		{filepath.Join(stateDir, kubeconfigDir), kubeconfigSuffix, "a kubeconfig with its client key", "rotate its certificate (`kisgen certs rotate NAME`)"},
	}
	var warns []string
	var errs []error
	for _, pl := range places {
		entries, err := os.ReadDir(pl.dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), pl.suffix) {
				continue
			}
			w, err := keyperm.Tighten(filepath.Join(pl.dir, e.Name()), pl.what, pl.advice)
			if err != nil {
				errs = append(errs, err)
			} else if w != "" {
				warns = append(warns, w)
			}
		}
	}
	return warns, errors.Join(errs...)
}
