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
	fatal := func(msg, hint string, line, col int) (*Plan, *report.Report) {
		rep.Add(report.Finding{Severity: report.Error, File: name, Message: msg, Hint: hint,
			Position: report.Position{Line: line, Column: col}})
		return nil, rep
	}
	if len(data) > MaxFileSize {
		return fatal(fmt.Sprintf("the file is larger than %d MiB", MaxFileSize>>20),
			"a plan is a few kilobytes per hundred nodes: check that this is the plan file", 0, 0)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fatal("the file is empty", "write a plan with `kisgen plan`, or copy one from examples/", 0, 0)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 || !utf8.Valid(data) {
		if i < 0 {
			i = firstInvalidUTF8(data)
		}
		line, col := lineCol(data, i)
		return fatal(fmt.Sprintf("the file is not UTF-8 text (binary data at byte %d)", i),
			"pass the YAML plan file, not an archive or binary", line, col)
	}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := decodeSafely(dec, &doc); err != nil {
		msg, line := yamlErrorLine(err)
		col := 0
		hint := "fix the YAML syntax at this line"
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
	if top.Kind != yaml.MappingNode {
		return fatal(fmt.Sprintf("a plan is a mapping of sections (cluster:, etcd:, master:, worker: …), got %s", describe(top)),
			"write a plan with `kisgen plan`, or copy one from examples/", top.Line, top.Column)
	}

	apiVersion, kind, avNode := topScalar(top, "apiVersion"), topScalar(top, "kind"), topNode(top, "apiVersion")
	w := &schemaWalker{rep: rep, file: name, pos: map[string]report.Position{}}
	var p *Plan
	switch {
	case avNode == nil && kind == "":
		w.hintFor = kismaticHint
		var k kismatic.Plan
		if !walkAndDecode(w, top, &k) {
			return nil, rep
		}
		p = fromKismatic(&k, rep, name)
	case apiVersion == v1alpha1.APIVersion:
		if kind != v1alpha1.Kind {
			n := topNode(top, "kind")
			line, col := top.Line, top.Column
			if n != nil {
				line, col = n.Line, n.Column
			}
			return fatal(fmt.Sprintf("kind %q is not a plan", kind), "write `kind: "+v1alpha1.Kind+"`", line, col)
		}
		var v v1alpha1.Plan
		if !walkAndDecode(w, top, &v) {
			return nil, rep
		}
		p = fromV1alpha1(&v, rep, name)
	default:
		line, col := top.Line, top.Column
		if avNode != nil {
			line, col = avNode.Line, avNode.Column
		}
		return fatal(fmt.Sprintf("unsupported apiVersion %q", apiVersion),
			fmt.Sprintf("use apiVersion: %s, or remove apiVersion and kind to read the file as a Kismatic v1.12 plan", v1alpha1.APIVersion), line, col)
	}
	p.File = name
	p.origin.file = name
	p.origin.pos = w.pos
	structural := len(rep.Findings)
	applyDefaults(p)
	validate(p, rep, opts)
	dropShadowed(rep, structural)
	for i := range rep.Findings {
		rep.Findings[i].File = name
	}
	rep.Sort()
	return p, rep
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
		msg, line := yamlErrorLine(err)
		w.rep.Add(report.Finding{Severity: report.Error, File: w.file, Message: "cannot decode: " + msg,
			Position: report.Position{Line: line}})
		return false
	}
	return true
}

// dropShadowed removes content findings about values that already have a structural error
// (a value of the wrong type is decoded as zero, and rules would then report the zero).
func dropShadowed(rep *report.Report, structural int) {
	var bad []string
	for _, f := range rep.Findings[:structural] {
		if f.Severity == report.Error && f.Path != "" {
			bad = append(bad, f.Path)
		}
	}
	if len(bad) == 0 {
		return
	}
	kept := rep.Findings[:structural]
	for _, f := range rep.Findings[structural:] {
		shadowed := false
		for _, b := range bad {
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

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

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

func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
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
