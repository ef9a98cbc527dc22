package outdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MarkerFile is written into every output directory kisgen replaces.
const MarkerFile = ".kisgen-output"

// Marker is the content of MarkerFile: what wrote the directory, for which cluster.
type Marker struct {
	// Kind is what the directory holds, e.g. "userdata" or "pxe-bundle".
	Kind string `json:"kind"`
	// Cluster is the plan's cluster name.
	Cluster string `json:"cluster,omitempty"`
	// ClusterID is the random id of the state directory the output was made from, when
	// known: it tells apart two clusters that share a name.
	ClusterID string `json:"cluster_id,omitempty"`
}

// Protected is a path an output directory must never be, contain or lie inside.
type Protected struct {
	Path string
	// What says what the path holds, for the error: "the state directory (CA keys)".
	What string
}

// Options say what is written and what must be spared.
type Options struct {
	Marker Marker
	// Legacy is a file name that only kisgen's output held before the marker existed
	// (render's manifest.json): such a directory is replaced without a marker.
	Legacy string
	// Protect lists what the output must never touch.
	Protect []Protected
	// Mode is the new directory's mode (0700 when it holds private keys); 0 means 0700.
	Mode os.FileMode
}

// Check says whether out may be replaced by output described by opts; the error wraps
// ErrRefused and says which path collides with what, and what to do. It changes nothing.
func Check(out string, opts Options) error {
	if err := checkProtected(out, opts); err != nil {
		return err
	}
	return checkExisting(out, opts)
}

// checkProtected refuses out when it is, contains or lies inside a protected path.
func checkProtected(out string, opts Options) error {
	abs := canonical(out)
	for _, p := range opts.Protect {
		if p.Path == "" {
			continue
		}
		pc := canonical(p.Path)
		var how string
		switch {
		case pc == abs:
			how = "is"
		case within(pc, abs):
			how = "contains"
		case within(abs, pc):
			how = "lies inside"
		default:
			continue
		}
		return fmt.Errorf("%w %s: it %s %s, %s; the output directory is replaced as a whole, so that would delete it: choose an output directory outside it",
			ErrRefused, out, how, p.Path, p.What)
	}
	return nil
}

// checkExisting refuses an existing out that is not kisgen's output of this kind and
// cluster.
func checkExisting(out string, opts Options) error {
	fi, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w %s: it is a symbolic link: give the directory it points to, or a new path", ErrRefused, out)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w %s: it is a file, not a directory: choose another output directory", ErrRefused, out)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	if len(entries) == 0 {
		return nil
	}
	m, err := ReadMarker(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if opts.Legacy != "" {
			if st, err := os.Lstat(filepath.Join(out, opts.Legacy)); err == nil && st.Mode().IsRegular() {
				return nil
			}
		}
		return fmt.Errorf("%w %s: it is not empty (%s) and kisgen did not write it (it has no %s); the output directory is replaced as a whole, so that would delete what is in it: choose a new or empty directory, or empty this one yourself",
			ErrRefused, out, sample(entries), MarkerFile)
	case err != nil:
		return fmt.Errorf("%w: %v: remove %s only if the directory is kisgen's output", ErrRefused, err, filepath.Join(out, MarkerFile))
	}
	want := opts.Marker
	switch {
	case m.Kind != want.Kind:
		return fmt.Errorf("%w %s: it holds kisgen's %s, not %s: choose another output directory", ErrRefused, out, m.Kind, want.Kind)
	case m.Cluster != "" && want.Cluster != "" && m.Cluster != want.Cluster:
		return fmt.Errorf("%w %s: it holds the %s of cluster %q, and this plan is cluster %q: give each plan its own output directory (--out)", ErrRefused, out, m.Kind, m.Cluster, want.Cluster)
	case m.ClusterID != "" && want.ClusterID != "" && m.ClusterID != want.ClusterID:
		return fmt.Errorf("%w %s: it holds the %s of another cluster named %q (cluster id %s, made from another state directory; this one's id is %s): give each plan its own output directory (--out)",
			ErrRefused, out, m.Kind, m.Cluster, m.ClusterID, want.ClusterID)
	}
	return nil
}

// ReadMarker reads dir's marker; the error wraps fs.ErrNotExist when it has none.
func ReadMarker(dir string) (Marker, error) {
	var m Marker
	path := filepath.Join(dir, MarkerFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil || m.Kind == "" {
		return m, fmt.Errorf("%s is not a kisgen output marker", path)
	}
	return m, nil
}

// sample names up to three entries of a directory, for an error message.
func sample(entries []fs.DirEntry) string {
	var names []string
	for i, e := range entries {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(entries)-3))
			break
		}
		names = append(names, e.Name())
	}
	return "it holds " + strings.Join(names, ", ")
}

// canonical is path made absolute with every symbolic link of its existing part
// resolved, so that "generated/../generated" and a link to the state directory compare
// equal to it. The part that does not exist yet is kept as written.
func canonical(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	cur, rest := abs, ""
	for {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether child lies strictly inside parent (both canonical).
func within(child, parent string) bool {
	rel, err := filepath.Rel(parent, child)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
