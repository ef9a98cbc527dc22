package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindingString(t *testing.T) {
	tests := []struct {
		name string
		f    Finding
		want string
	}{
		{"line and column", Finding{Severity: Error, File: "p.yaml", Path: "cluster.name", Position: Position{4, 9}, Message: "bad", Hint: "fix it"},
			"p.yaml:4:9: error: cluster.name: bad\n    hint: fix it"},
		{"a line without column is not shown as column 0", Finding{Severity: Error, File: "p.yaml", Position: Position{Line: 3}, Message: "not valid YAML"},
			"p.yaml:3: error: not valid YAML"},
		{"no position", Finding{Severity: Warning, File: "p.yaml", Message: "m"}, "p.yaml: warning: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWriteTextPointsAtTheColumn(t *testing.T) {
	r := &Report{}
	r.Add(Finding{Severity: Error, File: "p.yaml", Path: "a.b", Position: Position{2, 6}, Message: "m"})
	var b bytes.Buffer
	if err := r.WriteText(&b, []byte("a:\n\tb:  x\n")); err != nil {
		t.Fatal(err)
	}
	want := "p.yaml:2:6: error: a.b: m\n    \tb:  x\n    \t    ^\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteTextCountsEveryKindOfLineBreak(t *testing.T) {
	r := &Report{}
	r.Add(Finding{Severity: Error, File: "p.yaml", Position: Position{3, 3}, Message: "m"})
	for _, src := range []string{"a\nb\nc: x\n", "a\r\nb\r\nc: x\r\n", "a\rb\rc: x\r"} {
		var b bytes.Buffer
		if err := r.WriteText(&b, []byte(src)); err != nil {
			t.Fatal(err)
		}
		if want := "p.yaml:3:3: error: m\n    c: x\n      ^\n"; b.String() != want {
			t.Errorf("%q: got %q, want %q", src, b.String(), want)
		}
	}
}

func TestSortCountAndJSON(t *testing.T) {
	r := &Report{}
	r.Add(Finding{Severity: Warning, File: "p.yaml", Position: Position{5, 1}, Message: "w"})
	r.Add(Finding{Severity: Error, File: "p.yaml", Position: Position{5, 1}, Message: "e"})
	r.Add(Finding{Severity: Error, File: "p.yaml", Position: Position{1, 1}, Message: "first"})
	r.Sort()
	var msgs []string
	for _, f := range r.Findings {
		msgs = append(msgs, f.Message)
	}
	if diff := cmp.Diff([]string{"first", "e", "w"}, msgs); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if r.Summary() != "2 errors, 1 warning" || !r.IsFatal(false) {
		t.Errorf("summary %q", r.Summary())
	}
	warn := &Report{Findings: r.Findings[2:]}
	if warn.IsFatal(false) || !warn.IsFatal(true) {
		t.Error("a warning is fatal only under strict")
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b, false); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Valid    bool
		Errors   int
		Warnings int
		Findings []Finding
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Valid || got.Errors != 2 || got.Warnings != 1 || got.Findings[0].Severity != Error || got.Findings[0].Line != 1 {
		t.Errorf("JSON round trip: %+v", got)
	}
}

// TestControlCharactersAreEscaped: a plan key holding ESC and a newline (a quoted YAML key
// can) must not recolour the terminal or start a line that looks like another finding.
func TestControlCharactersAreEscaped(t *testing.T) {
	r := &Report{}
	r.Add(Finding{Severity: Error, File: "p.yaml", Path: "cluster.\x1b[31mname\nfake.yaml:1:1: error: x", Position: Position{2, 3},
		Message: "unknown key \x1b]0;title\x07", Hint: "bidi \u202eevil"})
	var b bytes.Buffer
	// The source line holds a raw C1 control and a tab; the caret must still line up.
	if err := r.WriteText(&b, []byte("a:\n\t\u009bx: y\n")); err != nil {
		t.Fatal(err)
	}
	want := `p.yaml:2:3: error: cluster.\x1b[31mname\nfake.yaml:1:1: error: x: unknown key \x1b]0;title\a` + "\n" +
		`    hint: bidi \u202eevil` + "\n" +
		"    \t\\u009bx: y\n" +
		"    \t      ^\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := Escape("plain ünïcode: ok"); got != "plain ünïcode: ok" {
		t.Errorf("Escape changed printable text: %q", got)
	}
	if got := Escape("bad \xff byte"); got != `bad \xff byte` {
		t.Errorf("invalid UTF-8: %q", got)
	}
}
