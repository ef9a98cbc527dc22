package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/flock"
)

// Stage is a new output directory being written beside its final place, with the
// output's lock held. Write into Dir, then Commit or Abort (either releases the lock).
type Stage struct {
	// Dir is the staging directory: write the new output here.
	Dir string
	// Notes say what Begin repaired (an interrupted swap, leftovers), for the user.
	Notes []string

	out    string
	marker Marker
	unlock func()
	once   sync.Once
	// placed is set once the new output is in place: from then on an error leaves it.
	placed bool
}

// testHook, set by tests, is called after each step of Commit; an error stops Commit
// there as a crash would (nothing is cleaned up; only the lock is released, as the
// kernel releases it when a process dies).
var testHook func(step string) error

// Steps of Commit, in order, as passed to testHook.
const (
	stepSynced    = "synced"     // staged content durable, no journal yet
	stepJournal   = "journal"    // journal written, nothing renamed
	stepOldMoved  = "old-moved"  // previous output renamed away: no output at all
	stepNewPlaced = "new-placed" // new output in place, previous one not yet removed
	stepOldGone   = "old-gone"   // previous output removed, journal still there
)

// journal is the content of .NAME.swap: the directories of a swap in progress, as
// names in the output's parent directory.
type journal struct {
	Staged string `json:"staged"`
	Old    string `json:"old,omitempty"`
}

func lockPath(out string) string    { return sibling(out, "."+filepath.Base(out)+".lock") }
func journalPath(out string) string { return sibling(out, "."+filepath.Base(out)+".swap") }
func sibling(out, name string) string {
	return filepath.Join(filepath.Dir(out), name)
}

// Begin locks out, repairs an interrupted swap and removes leftovers of earlier runs,
// checks that out may be replaced (Check), and creates the staging directory.
func Begin(out string, opts Options) (*Stage, error) {
	abs, err := filepath.Abs(out)
	if err != nil {
		return nil, err
	}
	// Protected paths first, before a lock file or a parent directory is made for an
	// output that will be refused anyway.
	if err := checkProtected(out, opts); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	unlock, err := flock.Lock(lockPath(abs))
	if err != nil {
		return nil, err
	}
	notes, err := repair(abs)
	if err == nil {
		err = checkExisting(out, opts)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".tmp-")
	if err == nil {
		mode := opts.Mode
		if mode == 0 {
			mode = 0o700
		}
		if err = os.Chmod(dir, mode); err != nil {
			_ = os.RemoveAll(dir)
		}
	}
	if err != nil {
		unlock()
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	return &Stage{Dir: dir, Notes: notes, out: abs, marker: opts.Marker, unlock: unlock}, nil
}

// Abort removes the staging directory and releases the lock; out is left as it was.
func (s *Stage) Abort() {
	s.once.Do(func() {
		_ = os.RemoveAll(s.Dir)
		s.unlock()
	})
}

// Commit writes the marker, makes the staged content durable and swaps it in place of
// the output (see the package documentation for the journal). On an error the output is
// as it was before, except when only the removal of the previous output failed: then the
// new output is in place and the next Begin removes the previous one.
func (s *Stage) Commit() error {
	committed := false
	defer func() {
		if !committed {
			s.Abort()
		}
	}()
	err := s.swap()
	if errors.Is(err, errCrash) {
		// A simulated crash: leave every directory as it is, release only the lock.
		committed = true
		s.once.Do(s.unlock)
		return err
	}
	if err == nil || s.placed {
		committed = true
		s.once.Do(s.unlock)
	}
	return err
}

// errCrash wraps a testHook error so that Commit leaves everything as a crash would.
var errCrash = errors.New("simulated crash")

func (s *Stage) step(name string) error {
	if testHook == nil {
		return nil
	}
	if err := testHook(name); err != nil {
		return fmt.Errorf("%w at %s: %v", errCrash, name, err)
	}
	return nil
}

func (s *Stage) swap() error {
	data, err := json.Marshal(s.marker)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, MarkerFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", s.out, err)
	}
	if err := syncTree(s.Dir); err != nil {
		return err
	}
	if err := s.step(stepSynced); err != nil {
		return err
	}
	j := journal{Staged: filepath.Base(s.Dir)}
	old := ""
	if _, err := os.Lstat(s.out); err == nil {
		j.Old = "." + filepath.Base(s.out) + ".old-" + strings.TrimPrefix(filepath.Base(s.Dir), "."+filepath.Base(s.out)+".tmp-")
		old = sibling(s.out, j.Old)
	}
	jdata, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(journalPath(s.out), append(jdata, '\n'), 0o600); err != nil {
		return err
	}
	if err := s.step(stepJournal); err != nil {
		return err
	}
	if old != "" {
		if err := os.Rename(s.out, old); err != nil {
			_ = os.Remove(journalPath(s.out))
			return fmt.Errorf("replace %s: %w", s.out, err)
		}
		if err := s.step(stepOldMoved); err != nil {
			return err
		}
	}
	if err := os.Rename(s.Dir, s.out); err != nil {
		if old != "" {
			if rerr := os.Rename(old, s.out); rerr != nil {
				// The journal stays: the next Begin puts the previous output back.
				return fmt.Errorf("replace %s: %w (and the previous output, now %s, could not be put back: %v)", s.out, err, old, rerr)
			}
		}
		_ = os.Remove(journalPath(s.out))
		return fmt.Errorf("replace %s: %w", s.out, err)
	}
	s.placed = true
	syncDir(filepath.Dir(s.out))
	if err := s.step(stepNewPlaced); err != nil {
		return err
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("%s is written, but the previous output %s could not be removed (the next run removes it): %w", s.out, old, err)
		}
	}
	if err := s.step(stepOldGone); err != nil {
		return err
	}
	if err := os.Remove(journalPath(s.out)); err != nil {
		return fmt.Errorf("%s is written, but its journal could not be removed: %w", s.out, err)
	}
	syncDir(filepath.Dir(s.out))
	return nil
}

// repair finishes or rolls back a swap a crash interrupted (its journal says which
// directories it moved) and removes staging and previous-output directories earlier
// runs left beside out. The caller holds out's lock. It returns what it did.
func repair(out string) ([]string, error) {
	var notes []string
	jp := journalPath(out)
	data, err := os.ReadFile(jp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrRecover, err)
	default:
		var j journal
		if err := json.Unmarshal(data, &j); err != nil || !isStagingName(out, j.Staged) || (j.Old != "" && !isOldName(out, j.Old)) {
			return nil, fmt.Errorf("%w: %s is not a journal kisgen wrote: look at the directories beside %s, then remove it", ErrRecover, jp, out)
		}
		staged := sibling(out, j.Staged)
		old := ""
		if j.Old != "" {
			old = sibling(out, j.Old)
		}
		switch {
		case exists(out) && !exists(staged):
			if old != "" {
				if err := os.RemoveAll(old); err != nil {
					return nil, fmt.Errorf("%w: remove the previous output %s: %v", ErrRecover, old, err)
				}
			}
			notes = append(notes, fmt.Sprintf("completed the interrupted replacement of %s (the new output was in place; removed the previous one)", out))
		case !exists(out) && old != "" && exists(old):
			if err := os.Rename(old, out); err != nil {
				return nil, fmt.Errorf("%w: put the previous output %s back to %s: %v", ErrRecover, old, out, err)
			}
			if err := os.RemoveAll(staged); err != nil {
				return nil, fmt.Errorf("%w: remove %s: %v", ErrRecover, staged, err)
			}
			notes = append(notes, fmt.Sprintf("rolled back the interrupted replacement of %s: put the previous output back", out))
		default:
			if err := os.RemoveAll(staged); err != nil {
				return nil, fmt.Errorf("%w: remove %s: %v", ErrRecover, staged, err)
			}
			notes = append(notes, fmt.Sprintf("rolled back the interrupted replacement of %s: removed the unfinished new output", out))
		}
		if err := os.Remove(jp); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRecover, err)
		}
		syncDir(filepath.Dir(out))
	}
	more, err := removeLeftovers(out)
	return append(notes, more...), err
}

// removeLeftovers removes the staging and previous-output directories of out that no
// journal names (the caller repaired the journal's first). When out is missing, the
// newest previous output is put back first: a kisgen before the journal crashed
// between its two renames.
func removeLeftovers(out string) ([]string, error) {
	parent := filepath.Dir(out)
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRecover, err)
	}
	var staged, olds []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		switch name := e.Name(); {
		case isOldName(out, name):
			olds = append(olds, filepath.Join(parent, name))
		case isStagingName(out, name):
			staged = append(staged, filepath.Join(parent, name))
		}
	}
	var notes []string
	if !exists(out) && len(olds) > 0 {
		sort.Slice(olds, func(i, j int) bool { return modTime(olds[i]) > modTime(olds[j]) })
		if err := os.Rename(olds[0], out); err != nil {
			return nil, fmt.Errorf("%w: put the previous output %s back to %s: %v", ErrRecover, olds[0], out, err)
		}
		notes = append(notes, fmt.Sprintf("put back the previous output of %s, which an interrupted run had left as %s", out, filepath.Base(olds[0])))
		olds = olds[1:]
	}
	for _, d := range append(staged, olds...) {
		if err := os.RemoveAll(d); err != nil {
			return notes, fmt.Errorf("%w: remove %s: %v", ErrRecover, d, err)
		}
		notes = append(notes, fmt.Sprintf("removed %s, left beside %s by an interrupted run", filepath.Base(d), out))
	}
	return notes, nil
}

// isStagingName reports whether name is a staging directory of out: .NAME.tmp-* (and
// .NAME.new-*, the PXE bundle's before this package).
func isStagingName(out, name string) bool {
	b := "." + filepath.Base(out)
	return strings.HasPrefix(name, b+".tmp-") || strings.HasPrefix(name, b+".new-")
}

// isOldName reports whether name is a previous output of out: .NAME.old-*, or
// NAME.old-.NAME.tmp-* / NAME.old-.NAME.new-* as atomicfile.ReplaceDir named it.
func isOldName(out, name string) bool {
	b := filepath.Base(out)
	if strings.HasPrefix(name, "."+b+".old-") {
		return true
	}
	rest, ok := strings.CutPrefix(name, b+".old-")
	return ok && isStagingName(out, rest)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func modTime(path string) int64 {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0
	}
	return fi.ModTime().UnixNano()
}

// syncDir makes a rename in dir durable (best effort: not every filesystem lets a
// directory be opened and synced).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
