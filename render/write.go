package render

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/outdir"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// OutputKind is what render's output directory holds, as its marker names it.
const OutputKind = "userdata"

// Write writes every node's user-data and the manifest into a new directory beside out,
// then swaps it in place of out: readers see the old output or the whole new one, and
// a failure (or a crash, repaired by the next run) leaves the last good output. out must
// be new, empty or kisgen's user-data of the same cluster (see internal/outdir). The
// directory is 0700 and the files 0600: user-data holds private keys.
func Write(res *Result, out string) error {
	st, err := newStage(out, res.Manifest.Cluster, Options{})
	if err != nil {
		return err
	}
	res.Warnings = append(res.Warnings, st.Notes...)
	for _, n := range res.Nodes {
		if err := st.write(n.File, n.Data); err != nil {
			st.Abort()
			return err
		}
	}
	return st.commit(res.Manifest)
}

// RenderTo is Render followed by Write, without holding every node's user-data in
// memory: each node's file goes into the staging directory as soon as it is rendered
// and validated, and the result keeps only its sizes and sums (NodeResult.Data is nil).
// out is replaced only when every node rendered and fits its budget; otherwise the
// staging directory is removed and out is left as it was. out is refused (before
// anything is rendered) when it is, contains or lies inside one of opts.Protect, or is
// a directory kisgen did not write or wrote for another cluster.
func RenderTo(p *plan.Plan, s roles.Secrets, opts Options, out string) (*Result, error) {
	st, err := newStage(out, p.Name, opts)
	if err != nil {
		return nil, err
	}
	opts.stage = st
	res, err := Render(p, s, opts)
	if err != nil {
		st.Abort()
		return res, err
	}
	res.Warnings = append(res.Warnings, st.Notes...)
	if err := st.commit(res.Manifest); err != nil {
		return res, err
	}
	return res, nil
}

// OutputOptions is what outdir is told about render's output for cluster.
func OutputOptions(cluster string, opts Options) outdir.Options {
	return outdir.Options{
		Marker:  outdir.Marker{Kind: OutputKind, Cluster: cluster, ClusterID: opts.ClusterID},
		Legacy:  ManifestFile,
		Protect: opts.Protect,
		Mode:    0o700,
	}
}

// stage is an output directory being written beside its final place (outdir.Stage,
// which holds the output's lock until commit or Abort).
type stage struct {
	*outdir.Stage
}

func newStage(out, cluster string, opts Options) (*stage, error) {
	st, err := outdir.Begin(out, OutputOptions(cluster, opts))
	if err != nil {
		return nil, fmt.Errorf("write user-data: %w", err)
	}
	return &stage{st}, nil
}

// write creates a file (0600) in the staging directory; safe for concurrent use.
func (s *stage) write(name string, data []byte) error {
	path := filepath.Join(s.Dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write user-data: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// commit writes the manifest and swaps the staging directory in place of out
// (outdir.Stage.Commit makes everything durable first, with one syncfs on Linux).
func (s *stage) commit(m Manifest) error {
	data, err := m.Marshal()
	if err == nil {
		err = s.write(ManifestFile, data)
	}
	if err != nil {
		s.Abort()
		return err
	}
	return s.Commit()
}
