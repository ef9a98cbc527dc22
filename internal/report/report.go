package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Severity orders findings: errors stop a run, warnings stop it only under --strict.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	default:
		return "info"
	}
}

// MarshalText lets JSON output carry the word, not the number.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText is the inverse of MarshalText.
func (s *Severity) UnmarshalText(b []byte) error {
	switch string(b) {
	case "error":
		*s = Error
	case "warning":
		*s = Warning
	case "info":
		*s = Info
	default:
		return fmt.Errorf("unknown severity %q", b)
	}
	return nil
}

// Position is a place in a source file; Line and Column are 1-based, 0 when unknown.
type Position struct {
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// Finding is one thing wrong (or worth knowing) about an input, tied to where it is.
type Finding struct {
	Severity Severity `json:"severity"`
	File     string   `json:"file,omitempty"`
	// Path is the YAML path of the offending value, e.g. "etcd.nodes[1].ip".
	Path string `json:"path,omitempty"`
	Position
	Message string `json:"message"`
	// Hint says what to do about it.
	Hint string `json:"hint,omitempty"`
}

// Report collects findings. The zero value is ready to use.
type Report struct {
	Findings []Finding `json:"findings"`
}

// Add appends a finding.
func (r *Report) Add(f Finding) { r.Findings = append(r.Findings, f) }

// Merge appends every finding of other.
func (r *Report) Merge(other *Report) {
	if other != nil {
		r.Findings = append(r.Findings, other.Findings...)
	}
}

// Count returns how many findings have severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// IsFatal says whether the report should stop a run; strict makes warnings fatal too.
func (r *Report) IsFatal(strict bool) bool {
	if r.Count(Error) > 0 {
		return true
	}
	return strict && r.Count(Warning) > 0
}

// Sort orders findings by file, line, column, then severity (errors first) and message,
// so output is stable whatever order the checks ran in.
func (r *Report) Sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
}

// Summary is a one-line count, e.g. "2 errors, 1 warning".
func (r *Report) Summary() string {
	e, w := r.Count(Error), r.Count(Warning)
	return fmt.Sprintf("%d %s, %d %s", e, plural(e, "error"), w, plural(w, "warning"))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// String renders one finding as "file:line:col: severity: path: message\n\thint".
func (f Finding) String() string {
	var b strings.Builder
	loc := f.File
	switch {
	case f.Line > 0 && f.Column > 0:
		loc = fmt.Sprintf("%s:%d:%d", f.File, f.Line, f.Column)
	case f.Line > 0: // the YAML parser gives syntax errors a line only
		loc = fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	b.WriteString(f.Severity.String())
	b.WriteString(": ")
	if f.Path != "" {
		b.WriteString(f.Path)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	if f.Hint != "" {
		b.WriteString("\n    hint: ")
		b.WriteString(f.Hint)
	}
	return b.String()
}

// WriteText prints every finding; when source holds the file's bytes, each finding with a
// position is followed by its source line and a caret under the column, as compilers do.
func (r *Report) WriteText(w io.Writer, source []byte) error {
	var lines []string
	if source != nil {
		// YAML breaks lines at \n, \r\n and a lone \r alike; so do positions.
		lines = strings.Split(strings.ReplaceAll(strings.ReplaceAll(string(source), "\r\n", "\n"), "\r", "\n"), "\n")
	}
	for _, f := range r.Findings {
		if _, err := fmt.Fprintln(w, f.String()); err != nil {
			return err
		}
		if f.Line > 0 && f.Line <= len(lines) {
			src := strings.TrimRight(lines[f.Line-1], "\r")
			if len(src) > 200 {
				src = src[:200] + "…"
			}
			col := f.Column
			if col < 1 {
				col = 1
			}
			if col > len(src)+1 {
				col = len(src) + 1
			}
			// Keep tabs in the caret line so the caret lines up under tabbed source.
			pad := make([]byte, 0, col-1)
			for i := 0; i < col-1; i++ {
				if src[i] == '\t' {
					pad = append(pad, '\t')
				} else {
					pad = append(pad, ' ')
				}
			}
			if _, err := fmt.Fprintf(w, "    %s\n    %s^\n", src, pad); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteJSON prints the report as one JSON object with a summary.
func (r *Report) WriteJSON(w io.Writer, valid bool) error {
	out := struct {
		Valid    bool      `json:"valid"`
		Errors   int       `json:"errors"`
		Warnings int       `json:"warnings"`
		Findings []Finding `json:"findings"`
	}{valid, r.Count(Error), r.Count(Warning), r.Findings}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// FatalError turns a fatal report into an error whose text is the summary and the first findings.
type FatalError struct {
	Report *Report
}

func (e *FatalError) Error() string {
	var b strings.Builder
	b.WriteString(e.Report.Summary())
	shown := 0
	for _, f := range e.Report.Findings {
		if f.Severity != Error {
			continue
		}
		if shown == 3 {
			b.WriteString("\n…")
			break
		}
		b.WriteString("\n")
		b.WriteString(f.String())
		shown++
	}
	return b.String()
}
