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

// compacted names the templates whose output Execute passes through CompactConfig: the
// units and configuration files, except the hosts block, whose marker lines are comments
// the bootstrap looks for. (Scripts are compacted by their callers, CompactScript.)
var compacted = func() map[string]bool {
	out := map[string]bool{}
	for _, dir := range []string{"units", "config"} {
		entries, err := files.ReadDir(dir)
		if err != nil {
			panic(err)
		}
		for _, e := range entries {
			if name, ok := strings.CutSuffix(e.Name(), ".tmpl"); ok && name != "hosts.block" {
				out[name] = true
			}
		}
	}
	return out
}()

// Execute renders the template called name (its file name without ".tmpl", e.g.
// "kubelet.service" or "kisgen-bootstrap") with data. A unit or configuration file comes
// out without its comments (CompactConfig).
func Execute(name string, data any) (string, error) {
	t := all.Lookup(name + ".tmpl")
	if t == nil {
		return "", fmt.Errorf("%w: %s", ErrUnknown, name)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	if compacted[name] {
		return CompactConfig(b.String()), nil
	}
	return b.String(), nil
}

// CompactConfig drops the comment lines of a unit or configuration file (a "#" alone or
// followed by a space, after any indentation) except the comment block it starts with,
// the "Written by kisgen" header that says where the file comes from. The comments
// explain kisgen's choices in its templates and docs; nodes get fewer bytes of user-data
// (a first master's by about a tenth). Lines where "#" starts a directive (sudoers'
// #include) and comments after a setting stay.
func CompactConfig(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	header := true
	for _, l := range lines {
		t := strings.TrimLeft(l, " \t")
		comment := t == "#" || strings.HasPrefix(t, "# ")
		header = header && comment
		if comment && !header {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
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
