package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

// String renders one finding as "file:line:col: severity: path: message\n\thint". Control
// characters in any part (a plan key may hold ESC or a newline) are escaped: they would
// otherwise reach the terminal raw, recolour it or forge a finding line.
func (f Finding) String() string {
	var b strings.Builder
	loc := Escape(f.File)
	switch {
	case f.Line > 0 && f.Column > 0:
		loc = fmt.Sprintf("%s:%d:%d", loc, f.Line, f.Column)
	case f.Line > 0: // the YAML parser gives syntax errors a line only
		loc = fmt.Sprintf("%s:%d", loc, f.Line)
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	b.WriteString(f.Severity.String())
	b.WriteString(": ")
	if f.Path != "" {
		b.WriteString(Escape(f.Path))
		b.WriteString(": ")
	}
	b.WriteString(Escape(f.Message))
	if f.Hint != "" {
		b.WriteString("\n    hint: ")
		b.WriteString(Escape(f.Hint))
	}
	return b.String()
}

// Escape writes the control characters in s as Go escapes (\x1b, \n, \u202e), keeping
// every other character, so that text from a plan is shown as what it is. It escapes C0
// and C1 controls, DEL, and the Unicode format characters that reorder or hide text
// (bidirectional overrides, zero-width characters); an invalid UTF-8 byte becomes \xNN.
func Escape(s string) string {
	return escape(s, false)
}

func escape(s string, keepTabs bool) string {
	clean := true
	for _, r := range s {
		if needsEscape(r, keepTabs) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case needsEscape(r, keepTabs):
			q := strconv.QuoteRune(r) // '\x1b', '\n', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, keepTabs bool) bool {
	switch {
	case r == '\t':
		return !keepTabs
	case r == utf8.RuneError:
		return true
	case unicode.IsControl(r):
		return true
	case unicode.Is(unicode.Cf, r): // format characters: bidi overrides, zero-width spaces, BOM
		return true
	}
	return false
}

// WriteText prints every finding; when source holds the file's bytes, each finding with a
// position is followed by its source line and a caret under the column, as compilers do.
// The source line is escaped as Finding.String escapes (tabs kept, so the caret line,
// which copies them, lines up).
func (r *Report) WriteText(w io.Writer, source []byte) error {
	var lines []string
	if source != nil && r.hasLines() {
		// YAML breaks lines at \n, \r\n and a lone \r alike; so do positions.
		lines = strings.Split(strings.ReplaceAll(strings.ReplaceAll(string(source), "\r\n", "\n"), "\r", "\n"), "\n")
	}
	for _, f := range r.Findings {
		if _, err := fmt.Fprintln(w, f.String()); err != nil {
			return err
		}
		if f.Line > 0 && f.Line <= len(lines) {
			src, pad := sourceAndCaret(lines[f.Line-1], f.Column)
			if _, err := fmt.Fprintf(w, "    %s\n    %s^\n", src, pad); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Report) hasLines() bool {
	for _, f := range r.Findings {
		if f.Line > 0 {
			return true
		}
	}
	return false
}

// sourceAndCaret returns a source line, escaped and cut to 200 characters, and the
// padding that puts a caret under column col (1-based, in characters, as YAML counts).
func sourceAndCaret(line string, col int) (string, string) {
	runes := []rune(line)
	cut := len(runes) > 200
	if cut {
		runes = runes[:200]
	}
	if col < 1 {
		col = 1
	}
	if col > len(runes)+1 {
		col = len(runes) + 1
	}
	var pad strings.Builder
	for _, c := range runes[:col-1] {
		switch e := escape(string(c), true); {
		case c == '\t':
			pad.WriteByte('\t')
		default:
			pad.WriteString(strings.Repeat(" ", utf8.RuneCountInString(e)))
		}
	}
	src := escape(string(runes), true)
	if cut {
		src += "…"
	}
	return src, pad.String()
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
