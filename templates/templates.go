package templates

import (
	"bytes"
	"embed"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

//go:embed units/*.tmpl scripts/*.tmpl config/*.tmpl
var files embed.FS

// all holds every template, parsed once; a missing key in the data is an error, never
// an empty string in a unit file.
var all = template.Must(template.New("kisgen").
	Option("missingkey=error").
	Funcs(template.FuncMap{"execStart": ExecStart, "toml": TOMLString, "shq": ShellQuote}).
	ParseFS(files, "units/*.tmpl", "scripts/*.tmpl", "config/*.tmpl"))

// Execute renders the template called name (its file name without ".tmpl", e.g.
// "kubelet.service" or "kisgen-bootstrap") with data.
func Execute(name string, data any) (string, error) {
	t := all.Lookup(name + ".tmpl")
	if t == nil {
		return "", fmt.Errorf("%w: %s", ErrUnknown, name)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return b.String(), nil
}

// Names lists every template name, sorted.
func Names() []string {
	var out []string
	for _, t := range all.Templates() {
		if n, ok := strings.CutSuffix(t.Name(), ".tmpl"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// ExecStart formats a command line for a unit's ExecStart=: the binary, then one argument
// per continuation line, each escaped for systemd (see SystemdArg).
func ExecStart(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteString(" \\\n  ")
		}
		b.WriteString(SystemdArg(a))
	}
	return b.String()
}

// SystemdArg escapes one command-line argument for systemd's ExecStart=: "%" starts a
// specifier and "$" a variable, so both are doubled; an argument with white space,
// quotes, backslashes or a semicolon is double-quoted with C-style escapes.
func SystemdArg(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\n\r\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s) + `"`
}

// TOMLString quotes s as a TOML basic string.
func TOMLString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ShellQuote single-quotes s for a file that both bash (source) and systemd
// (EnvironmentFile=) read. Neither shares a way to escape a quote, a backslash or a line
// break inside single quotes, so such values are refused.
func ShellQuote(s string) (string, error) {
	if strings.ContainsAny(s, "'\\\n\r") {
		return "", fmt.Errorf("%w: %q", ErrUnquotable, s)
	}
	return "'" + s + "'", nil
}

// CompactScript drops a shell script's comment lines and blank lines and its
// indentation, keeping the first line (#!) and shellcheck directives: the commented
// source stays in kisgen's templates, and nodes get fewer bytes of user-data. The
// scripts have no here-documents or multi-line strings, whose lines this would alter.
func CompactScript(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	for i, l := range lines {
		t := strings.TrimLeft(l, " \t")
		switch {
		case i == 0 && strings.HasPrefix(l, "#!"):
			out = append(out, l)
		case t == "":
		case strings.HasPrefix(t, "#") && !strings.HasPrefix(t, "# shellcheck"):
		default:
			out = append(out, t)
		}
	}
	return strings.Join(out, "\n") + "\n"
}
