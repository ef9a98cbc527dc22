package wizard

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// Conversion is a Kismatic plan converted into the kisgen schema.
type Conversion struct {
	// Plan is the converted plan, commented, ready to be written.
	Plan []byte
	// Changes lists, in the order of the source file, each key renamed, each value
	// mapped to one that works today and each key dropped, located in the source.
	Changes []plan.Change
	// Report holds the other findings about the source (unknown keys, wrong types).
	Report *report.Report
}

// FromKismatic converts the Kismatic v1.12 plan src (its bytes in data) into a commented
// kisgen plan to be written at dst. A relative SSH key path is rewritten relative to
// dst's directory so that it still names the same file (a change in the list). The
// conversion's Plan is nil, and the error ErrInvalidPlan, when src cannot be converted
// faithfully; its Report says why.
func FromKismatic(src string, data []byte, dst string) (*Conversion, error) {
	v, changes, rep := plan.ConvertKismatic(src, data)
	conv := &Conversion{Changes: changes, Report: rep}
	if v == nil {
		return conv, fmt.Errorf("%w: %s cannot be converted: %s", ErrInvalidPlan, src, rep.Summary())
	}
	key := v.Cluster.SSH.Key
	if key == "" {
		key = plan.DefaultSSHKey
	}
	if !filepath.IsAbs(key) {
		srcDir, err1 := filepath.Abs(filepath.Dir(src))
		dstDir, err2 := filepath.Abs(filepath.Dir(dst))
		if err1 == nil && err2 == nil && srcDir != dstDir {
			// A path leaving the plan's directory must be absolute: the plan's files are
			// read through its directory, and only absolute paths may leave it.
			abs := filepath.Join(srcDir, key)
			if rel, err := filepath.Rel(dstDir, abs); err == nil && filepath.IsLocal(rel) {
				v.Cluster.SSH.Key = rel
			} else {
				v.Cluster.SSH.Key = abs
			}
			conv.Changes = append(conv.Changes, keyChange(src, data, key, v.Cluster.SSH.Key))
			plan.SortChanges(conv.Changes)
		}
	}
	// Each changed value says in the new file what it was, so that the file alone tells
	// a reader what the conversion did.
	comments := map[string]string{}
	for _, c := range conv.Changes {
		if c.To == "" || c.Quiet {
			continue
		}
		switch {
		case c.From == c.To:
			comments[c.To] = fmt.Sprintf("Was %s in the Kismatic plan.", c.Old)
		case c.Old != "":
			comments[c.To] = fmt.Sprintf("From %s: %s in the Kismatic plan.", c.From, c.Old)
		default:
			comments[c.To] = fmt.Sprintf("From %s in the Kismatic plan.", c.From)
		}
	}
	out, err := Encode(v, EncodeOptions{
		Header: fmt.Sprintf("Converted by `kisgen plan --from-kismatic %s` from a Kismatic v1.12 plan:\n"+
			"renamed keys now have their kisgen names, ignored ones are gone (docs/plan.md lists both).\n"+
			"Check it with `kisgen validate`.", filepath.Base(src)),
		Comments: comments,
	})
	if err != nil {
		return conv, err
	}
	conv.Plan = out
	return conv, nil
}

// keyChange records the SSH key path rewritten for the new plan's directory, located at
// the source's ssh_key (or, when the key is not given, at its cluster.ssh section).
func keyChange(src string, data []byte, from, to string) plan.Change {
	c := plan.Change{From: "cluster.ssh.ssh_key", To: "cluster.ssh.ssh_key", Old: from, New: to,
		Why: "the same file, named from the new plan's directory"}
	if p, _ := plan.Parse(src, data, plan.Options{}); p != nil {
		_, c.Position = p.Locate("cluster.ssh.ssh_key")
	}
	return c
}

// WriteChanges prints the changes, one a line, as "file:line:column: from → to: old → new
// — why", under a heading that counts them; nothing when there are none.
func WriteChanges(w io.Writer, file string, changes []plan.Change) error {
	if len(changes) == 0 {
		return nil
	}
	s := "s"
	if len(changes) == 1 {
		s = ""
	}
	if _, err := fmt.Fprintf(w, "%d change%s from the Kismatic plan:\n", len(changes), s); err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := fmt.Fprintf(w, "  %s:%d:%d: %s\n", file, c.Position.Line, c.Position.Column, c); err != nil {
			return err
		}
	}
	return nil
}
