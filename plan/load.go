package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan/kismatic"
	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// MaxFileSize is the largest plan kisgen reads. A 10,000-node plan is under 2 MiB.
const MaxFileSize = 16 << 20

// KismaticVersion names the Kismatic schema for documents without apiVersion.
const KismaticVersion = "kismatic/v1.12"

// Options changes how a plan is loaded.
type Options struct {
	// Root, when set, is the plan's directory: files the plan names (SSH key, checksums)
	// are read through it and checked. Nil skips those checks.
	Root *os.Root
}

// Load reads, decodes and validates the plan file at path. It returns the plan (nil when
// it could not be decoded at all), the report of every finding, and an error only when the
// file could not be read. Callers decide with report.IsFatal whether to go on.
func Load(path string) (*Plan, *report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s (create one with `kisgen plan`)", ErrNotFound, path)
		}
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, nil, fmt.Errorf("read plan: %s is a directory; pass the plan file itself (-f DIR/kismatic-cluster.yaml)", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read plan %s: %w", path, err)
	}
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	defer root.Close()
	p, rep := Parse(path, data, Options{Root: root})
	return p, rep, nil
}

// Parse decodes and validates plan bytes; name is used in findings. It never panics on
// any input.
func Parse(name string, data []byte, opts Options) (*Plan, *report.Report) {
	rep := &report.Report{}
	top := readDocument(name, data, rep)
	if top == nil {
		return nil, rep
	}
	schema := documentSchema(name, top, rep)
	w := &schemaWalker{rep: rep, file: name, pos: map[string]report.Position{}}
	var p *Plan
	switch schema {
	case KismaticVersion:
		w.hintFor = kismaticHint
		var k kismatic.Plan
		if !walkAndDecode(w, top, &k) {
			return nil, rep
		}
		p = fromKismatic(&k, rep, name)
	case v1alpha1.APIVersion:
		var v v1alpha1.Plan
		if !walkAndDecode(w, top, &v) {
			return nil, rep
		}
		p = fromV1alpha1(&v, rep, name)
	default:
		return nil, rep
	}
	p.File = name
	p.origin.file = name
	p.origin.pos = w.pos
	structural := len(rep.Findings)
	applyDefaults(p)
	validate(p, rep, opts)
	dropShadowed(rep, structural, w.zeroed, w.misspelt)
	for i := range rep.Findings {
		rep.Findings[i].File = name
	}
	rep.Sort()
	return p, rep
}

// ConvertKismatic reads a Kismatic v1.12 plan and returns it in the kisgen schema, its
// deprecated keys mapped to their successors and its name and version to ones that work
// (see KismaticKeys), with the list of those changes, located in the source. The report
// holds the other findings about the source file (unknown keys, wrong types, two
// spellings of a key that disagree); content rules are not run: validate the converted
// plan. The plan is nil when the file cannot be converted faithfully (it is not a
// Kismatic plan, or it has unknown keys or values of the wrong type, which conversion
// would drop).
func ConvertKismatic(name string, data []byte) (*v1alpha1.Plan, []Change, *report.Report) {
	rep := &report.Report{}
	top := readDocument(name, data, rep)
	if top == nil {
		return nil, nil, rep
	}
	switch documentSchema(name, top, rep) {
	case KismaticVersion:
	case v1alpha1.APIVersion:
		n := topNode(top, "apiVersion")
		rep.Add(report.Finding{Severity: report.Error, File: name, Path: "apiVersion", Message: "the file is already a kisgen plan: there is nothing to convert",
			Hint: "validate it with `kisgen validate -f " + name + "`", Position: report.Position{Line: n.Line, Column: n.Column}})
		return nil, nil, rep
	default:
		return nil, nil, rep
	}
	w := &schemaWalker{rep: rep, file: name, pos: map[string]report.Position{}, hintFor: kismaticHint}
	var k kismatic.Plan
	if !walkAndDecode(w, top, &k) || rep.Count(report.Error) > 0 {
		rep.Sort()
		return nil, nil, rep
	}
	v, renames, changes := UpgradeKismatic(&k, rep)
	o := &origin{file: name, pos: w.pos, renames: renames}
	for i := range rep.Findings {
		f := &rep.Findings[i]
		if f.Line == 0 && f.Path != "" {
			f.Path, f.Position = o.locate(f.Path)
		}
		f.File = name
	}
	src := &origin{file: name, pos: w.pos} // change paths are source paths already
	for i := range changes {
		_, changes[i].Position = src.locate(changes[i].From)
	}
	SortChanges(changes)
	rep.Sort()
	return v, changes, rep
}

// readDocument runs the checks every plan file gets before its schema is known: size,
// text encoding, YAML syntax, a single document whose top is a mapping. It returns that
// mapping, or nil after reporting why there is none.
func readDocument(name string, data []byte, rep *report.Report) *yaml.Node {
	fatal := func(msg, hint string, line, col int) *yaml.Node {
		rep.Add(report.Finding{Severity: report.Error, File: name, Message: msg, Hint: hint,
			Position: report.Position{Line: line, Column: col}})
		return nil
	}
	if len(data) > MaxFileSize {
		return fatal(fmt.Sprintf("the file is larger than %d MiB", MaxFileSize>>20),
			"a plan is a few kilobytes per hundred nodes: check that this is the plan file", 0, 0)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fatal("the file is empty", "write a plan with `kisgen plan`, or copy one from examples/", 0, 0)
	}
	if bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data) {
		i := firstInvalidUTF8(data)
		line, col := lineCol(data, i)
		return fatal(fmt.Sprintf("the file is not UTF-8 text (binary data at byte %d)", i),
			"pass the YAML plan file, not an archive or binary", line, col)
	}

	data = normalizeLineBreaks(data)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := decodeSafely(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fatal("the file holds only comments, no plan", "write a plan with `kisgen plan`, or copy one from examples/", 0, 0)
		}
		msg, line := yamlErrorLine(err)
		col := 0
		hint := "fix the YAML syntax at this line"
		if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil && line == 0 {
			// The parser names the anchor but not where it is used: find the alias.
			if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
				line, col = lineCol(data, i)
			}
			hint = fmt.Sprintf("define the anchor (&%s) before the alias that uses it (*%s)", m[1], m[1])
		}
		if line > 0 {
			if l := sourceLine(data, line); strings.HasPrefix(strings.TrimLeft(l, " "), "\t") || strings.Contains(msg, "tab") {
				col = strings.IndexByte(l, '\t') + 1
				hint = "YAML does not allow tabs for indentation: indent with spaces"
			}
		}
		return fatal("not valid YAML: "+msg, hint, line, col)
	}
	var extra yaml.Node
	if err := decodeSafely(dec, &extra); err == nil {
		return fatal("the file holds more than one YAML document", "keep one plan per file: remove the \"---\" and what follows it", extra.Line, extra.Column)
	} else if !errors.Is(err, io.EOF) {
		msg, line := yamlErrorLine(err)
		return fatal("not valid YAML: "+msg, "fix the YAML syntax at this line", line, 0)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return fatal("the file holds no YAML document", "write a plan with `kisgen plan`", 0, 0)
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return fatal("the file holds an empty document, no plan", "write a plan with `kisgen plan`, or copy one from examples/", top.Line, top.Column)
	}
	if top.Kind != yaml.MappingNode {
		return fatal(fmt.Sprintf("a plan is a mapping of sections (cluster:, etcd:, master:, worker: …), got %s", describe(top)),
			"write a plan with `kisgen plan`, or copy one from examples/", top.Line, top.Column)
	}
	return top
}

// documentSchema tells from apiVersion and kind which schema the document is in:
// v1alpha1.APIVersion, KismaticVersion (neither key present), or "" after reporting why
// it is neither.
func documentSchema(name string, top *yaml.Node, rep *report.Report) string {
	fatal := func(n *yaml.Node, path, msg, hint string) string {
		if n == nil {
			n = top
		}
		rep.Add(report.Finding{Severity: report.Error, File: name, Path: path, Message: msg, Hint: hint,
			Position: report.Position{Line: n.Line, Column: n.Column}})
		return ""
	}
	avNode, kindNode := topNode(top, "apiVersion"), topNode(top, "kind")
	for _, n := range []struct {
		key  string
		node *yaml.Node
	}{{"apiVersion", avNode}, {"kind", kindNode}} {
		if n.node != nil && (n.node.Kind != yaml.ScalarNode || n.node.Tag != "!!str") {
			return fatal(n.node, n.key, fmt.Sprintf("%s must be a string, got %s", n.key, describe(n.node)),
				fmt.Sprintf("write `apiVersion: %s` and `kind: %s`", v1alpha1.APIVersion, v1alpha1.Kind))
		}
	}
	apiVersion, kind := topScalar(top, "apiVersion"), topScalar(top, "kind")
	switch {
	case avNode == nil && kindNode == nil:
		return KismaticVersion
	case avNode == nil:
		return fatal(kindNode, "kind", "kind is set but apiVersion is missing",
			fmt.Sprintf("add `apiVersion: %s`, or remove kind to read the file as a Kismatic v1.12 plan", v1alpha1.APIVersion))
	case apiVersion != v1alpha1.APIVersion:
		hint := fmt.Sprintf("use apiVersion: %s, or remove apiVersion and kind to read the file as a Kismatic v1.12 plan", v1alpha1.APIVersion)
		if s := suggest(apiVersion, []string{v1alpha1.APIVersion}); s != "" {
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		return fatal(avNode, "apiVersion", fmt.Sprintf("unsupported apiVersion %q", apiVersion), hint)
	case kindNode == nil:
		return fatal(avNode, "kind", "kind is missing", "add `kind: "+v1alpha1.Kind+"`")
	case kind != v1alpha1.Kind:
		return fatal(kindNode, "kind", fmt.Sprintf("kind %q is not a plan", kind), "write `kind: "+v1alpha1.Kind+"`")
	}
	return v1alpha1.APIVersion
}

// walkAndDecode checks the tree against out's type, then decodes it. Unknown keys and
// values of the wrong type have been reported by the walk; the decoder skips them and
// fills the rest, so content rules can still report everything else at once. It reports
// whether there is a model to check.
func walkAndDecode(w *schemaWalker, top *yaml.Node, out any) bool {
	w.walk("", top, reflect.TypeOf(out).Elem())
	if w.bombed {
		return false
	}
	if err := decodeNodeSafely(top, out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && w.rep.Count(report.Error) > 0 {
			return true // already reported, position by position
		}
		if w.rep.Count(report.Error) > 0 {
			return false // a consequence of what the walk reported
		}
		msg, line := yamlErrorLine(err)
		w.rep.Add(report.Finding{Severity: report.Error, File: w.file, Message: "cannot decode: " + msg,
			Position: report.Position{Line: line}})
		return false
	}
	return true
}

// dropShadowed removes content findings about values that already have a type error (a
// value of the wrong type is decoded as zero, and rules would then report the zero), and
// about what encloses them or lies under them; and findings about a key that an unknown
// key was probably meant to be (the did-you-mean says it already).
func dropShadowed(rep *report.Report, structural int, zeroed, misspelt []string) {
	if len(zeroed) == 0 && len(misspelt) == 0 {
		return
	}
	kept := rep.Findings[:structural]
	for _, f := range rep.Findings[structural:] {
		shadowed := isOneOf(f.Path, misspelt)
		for _, b := range zeroed {
			if f.Path == b || strings.HasPrefix(f.Path, b+".") || strings.HasPrefix(f.Path, b+"[") || strings.HasPrefix(b, f.Path+".") || strings.HasPrefix(b, f.Path+"[") {
				shadowed = true
				break
			}
		}
		if !shadowed {
			kept = append(kept, f)
		}
	}
	rep.Findings = kept
}

// decodeSafely turns a panic inside the YAML library into an error: a malformed file must
// give a message, never a crash.
func decodeSafely(dec *yaml.Decoder, out *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return dec.Decode(out)
}

func decodeNodeSafely(n *yaml.Node, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return n.Decode(out)
}

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// yamlErrorLine splits "yaml: line 3: message" into the message and the line.
func yamlErrorLine(err error) (string, int) {
	msg := err.Error()
	first := strings.SplitN(msg, "\n", 2)[0]
	if m := yamlLineRE.FindStringSubmatch(first); m != nil {
		n, _ := strconv.Atoi(m[1])
		return m[2], n
	}
	return strings.TrimPrefix(msg, "yaml: "), 0
}

func topNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func topScalar(m *yaml.Node, key string) string {
	if n := topNode(m, key); n != nil && n.Kind == yaml.ScalarNode {
		return n.Value
	}
	return ""
}

func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// normalizeLineBreaks turns each lone \r (old Mac line ends) into \n. YAML breaks lines at
// both, and counts them in positions; \n alone is what positions are computed against
// everywhere else. Offsets do not move, and the document means the same.
func normalizeLineBreaks(data []byte) []byte {
	i := bytes.IndexByte(data, '\r')
	if i < 0 {
		return data
	}
	out := append([]byte(nil), data...)
	for ; i < len(out); i++ {
		if out[i] == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
			out[i] = '\n'
		}
	}
	return out
}

// firstInvalidUTF8 returns the offset of the first NUL byte or invalid UTF-8 sequence.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == 0 || r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}

func sourceLine(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	return lines[line-1]
}

// kisgenOnlyKeys are sections a Kismatic document cannot have; naming them gets a hint to
// declare the kisgen schema instead of a spelling suggestion.
var kisgenOnlyKeys = map[string]string{
	"versions": "", "mirror": "", "provider": "",
	"etcd.os": "", "master.os": "", "worker.os": "", "ingress.os": "", "storage.os": "",
	"etcd.format": "", "master.format": "", "worker.format": "", "ingress.format": "", "storage.format": "",
	"etcd.machine": "", "master.machine": "", "worker.machine": "", "ingress.machine": "", "storage.machine": "",
	"cluster.certificates.location": "", "cluster.certificates.key_algorithm": "", "cluster.certificates.renew_before": "",
	"add_ons.cni.options.calico.as_number": "", "add_ons.cni.options.calico.network_policy": "",
}

func kismaticHint(path, key string) string {
	full := joinPath(path, key)
	if _, ok := kisgenOnlyKeys[full]; ok {
		return fmt.Sprintf("%q is a kisgen key, and this file has no apiVersion so it is read as a Kismatic v1.12 plan: add `apiVersion: %s` and `kind: %s` at the top",
			full, v1alpha1.APIVersion, v1alpha1.Kind)
	}
	if strings.HasSuffix(path, "nodes") || strings.Contains(path, ".nodes[") {
		if key == "mac" {
			return fmt.Sprintf("\"mac\" is a kisgen key: add `apiVersion: %s` and `kind: %s` at the top", v1alpha1.APIVersion, v1alpha1.Kind)
		}
	}
	return ""
}
