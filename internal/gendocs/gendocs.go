package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// Paths of the input and outputs, relative to the module root.
const (
	TypesFile = "plan/v1alpha1/types.go"
	DocsFile  = "docs/plan.md"
	GoFile    = "plan/v1alpha1/docs_generated.go"
)

// Output is one generated file; Path is relative to the module root.
type Output struct {
	Path string
	Data []byte
}

// Generate reads the types under root and returns every generated file's content.
func Generate(root string) ([]Output, error) {
	src, err := os.ReadFile(filepath.Join(root, TypesFile))
	if err != nil {
		return nil, err
	}
	s, err := parseTypes(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", TypesFile, err)
	}
	goSrc, err := renderGo(s)
	if err != nil {
		return nil, err
	}
	return []Output{
		{Path: DocsFile, Data: renderMarkdown(s)},
		{Path: GoFile, Data: goSrc},
	}, nil
}

// field is one documented struct field.
type field struct {
	GoName     string
	Key        string
	Type       ast.Expr
	Doc        []string
	Default    string
	HasDefault bool
	Options    []string
	Required   bool
	Deprecated bool
}

// structType is one struct of the schema, with the YAML paths where it appears.
type structType struct {
	Name   string
	Doc    []string
	Fields []field
	Paths  []string
}

// schema is every struct type of types.go, in the order a reader meets them from Plan.
type schema struct {
	types map[string]*structType
	order []*structType
}

func parseTypes(src []byte) (*schema, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, TypesFile, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	s := &schema{types: map[string]*structType{}}
	for _, d := range file.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.TYPE {
			continue
		}
		for _, spec := range gd.Specs {
			ts := spec.(*ast.TypeSpec)
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			doc := ts.Doc
			if doc == nil {
				doc = gd.Doc
			}
			t := &structType{Name: ts.Name.Name, Doc: commentLines(doc)}
			for _, f := range st.Fields.List {
				if len(f.Names) != 1 {
					return nil, fmt.Errorf("%s: embedded or grouped fields are not supported", fset.Position(f.Pos()))
				}
				fd, err := parseField(f)
				if err != nil {
					return nil, fmt.Errorf("%s: %s.%s: %w", fset.Position(f.Pos()), t.Name, f.Names[0].Name, err)
				}
				t.Fields = append(t.Fields, fd)
			}
			s.types[t.Name] = t
		}
	}
	if s.types["Plan"] == nil {
		return nil, fmt.Errorf("no Plan type")
	}
	seen := map[string]bool{}
	var walk func(t *structType, path string)
	walk = func(t *structType, path string) {
		t.Paths = append(t.Paths, path)
		if !seen[t.Name] {
			seen[t.Name] = true
			s.order = append(s.order, t)
		}
		for _, f := range t.Fields {
			name, list := elemName(f.Type)
			if sub := s.types[name]; sub != nil {
				p := joinPath(path, f.Key)
				if list {
					p += "[]"
				}
				walk(sub, p)
			}
		}
	}
	walk(s.types["Plan"], "")
	return s, nil
}

func parseField(f *ast.Field) (field, error) {
	fd := field{GoName: f.Names[0].Name, Type: f.Type}
	if f.Tag == nil {
		return fd, fmt.Errorf("no yaml tag")
	}
	tag, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return fd, err
	}
	fd.Key = strings.Split(reflect.StructTag(tag).Get("yaml"), ",")[0]
	if fd.Key == "" || fd.Key == "-" {
		return fd, fmt.Errorf("no yaml key")
	}
	for _, l := range commentLines(f.Doc) {
		if !strings.HasPrefix(l, "+") {
			fd.Doc = append(fd.Doc, l)
			continue
		}
		name, value, hasValue := strings.Cut(l[1:], "=")
		switch {
		case name == "default" && hasValue:
			fd.Default, fd.HasDefault = value, true
		case name == "options" && hasValue:
			fd.Options = strings.Split(value, ",")
		case name == "required" && !hasValue:
			fd.Required = true
		case name == "deprecated" && !hasValue:
			fd.Deprecated = true
		default:
			return fd, fmt.Errorf("unknown tag %q (known: +default=, +options=, +required, +deprecated)", l)
		}
	}
	if len(fd.Doc) == 0 {
		return fd, fmt.Errorf("no comment: every field of the plan is documented")
	}
	return fd, nil
}

// commentLines returns a comment's lines without the comment markers.
func commentLines(g *ast.CommentGroup) []string {
	if g == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(g.Text()), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// elemName returns the named type a field holds (through lists and pointers) and whether
// it is a list of them.
func elemName(e ast.Expr) (string, bool) {
	switch t := e.(type) {
	case *ast.Ident:
		return t.Name, false
	case *ast.StarExpr:
		return elemName(t.X)
	case *ast.ArrayType:
		n, _ := elemName(t.Elt)
		return n, true
	}
	return "", false
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// typeText describes a field's type for a reader, linking schema types.
func (s *schema) typeText(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.Ident:
		switch t.Name {
		case "string":
			return "string"
		case "int", "int64", "uint32":
			return "integer"
		case "bool":
			return "boolean"
		}
		if s.types[t.Name] != nil {
			return fmt.Sprintf("[%s](#%s)", t.Name, strings.ToLower(t.Name))
		}
		return t.Name
	case *ast.StarExpr:
		return s.typeText(t.X)
	case *ast.ArrayType:
		return "list of " + s.typeText(t.Elt)
	case *ast.MapType:
		return fmt.Sprintf("map of %s to %s", s.typeText(t.Key), s.typeText(t.Value))
	}
	return "?"
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func renderMarkdown(s *schema) []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("<!-- Code generated by internal/gendocs from %s; DO NOT EDIT. Run `go generate ./plan/...`. -->\n\n", TypesFile)
	p("# The plan file: kismatic-cluster.yaml\n\n")
	p("A plan describes the cluster kisgen builds: its nodes and their roles, networking,\n")
	p("certificates, versions and the infrastructure that boots the machines. Write one with\n")
	p("`kisgen plan`, check it with `kisgen validate`.\n\n")
	p("A kisgen plan starts with `apiVersion: kisgen.io/v1alpha1` and `kind: ClusterPlan`. A file\n")
	p("without them is read as a plan of Apprenda's Kismatic installer v1.12, with its deprecated\n")
	p("keys mapped to their successors ([Kismatic plans](#kismatic-v112-plans));\n")
	p("`kisgen plan --from-kismatic OLD.yaml` converts one into the kisgen schema.\n\n")
	p("Every key is optional unless marked **required**; a key left out takes its default.\n")
	p("Unknown keys are errors (with a did-you-mean suggestion), so a misspelt key never goes\n")
	p("unnoticed. Paths below use `[]` for any list item, e.g. `etcd.nodes[].ip`.\n\n")
	p("## Sections\n\n")
	for _, t := range s.order {
		p("- [%s](#%s)%s\n", t.Name, strings.ToLower(t.Name), pathList(t, " at "))
	}
	p("- [Kismatic v1.12 plans](#kismatic-v112-plans)\n\n")
	for _, t := range s.order {
		p("## %s\n\n", t.Name)
		if len(t.Doc) > 0 {
			p("%s\n\n", strings.Join(t.Doc, " "))
		}
		if l := pathList(t, ""); l != "" {
			p("Appears at%s.\n\n", l)
		}
		p("| Key | Type | Default | Description |\n|---|---|---|---|\n")
		for _, f := range t.Fields {
			var desc []string
			if f.Required {
				desc = append(desc, "**Required.**")
			}
			if f.Deprecated {
				desc = append(desc, "**Deprecated.**")
			}
			desc = append(desc, strings.Join(f.Doc, " "))
			if len(f.Options) > 0 {
				desc = append(desc, "One of: `"+strings.Join(f.Options, "`, `")+"`.")
			}
			def := ""
			if f.HasDefault {
				def = "`" + f.Default + "`"
			}
			p("| `%s` | %s | %s | %s |\n", f.Key, s.typeText(f.Type), def, mdEscape(strings.Join(desc, " ")))
		}
		p("\n")
	}
	p("## Kismatic v1.12 plans\n\n")
	p("A file without `apiVersion` is read as a Kismatic v1.12 plan. Its keys keep their meaning\n")
	p("in the kisgen schema except those below, which `kisgen validate` reports as warnings\n")
	p("where they are set, at their line in the file. Node entries accept both `internalip`\n")
	p("(the release's key) and `internal_ip` (the guide's); when both are given they must agree.\n\n")
	p("| Kismatic key | kisgen key | What happens |\n|---|---|---|\n")
	for _, m := range plan.KismaticKeys {
		to := "—"
		if m.Kisgen != "" {
			to = "`" + m.Kisgen + "`"
		}
		p("| `%s` | %s | %s |\n", m.Kismatic, to, mdEscape(m.Note))
	}
	return b.Bytes()
}

// pathList formats where a type appears: " at `a`, `b`", or "" for the document itself.
func pathList(t *structType, prefix string) string {
	var ps []string
	for _, p := range t.Paths {
		if p != "" {
			ps = append(ps, "`"+p+"`")
		}
	}
	if len(ps) == 0 {
		return ""
	}
	if prefix == "" {
		prefix = " "
	}
	return prefix + strings.Join(ps, ", ")
}

func renderGo(s *schema) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/gendocs from types.go; DO NOT EDIT.\n\npackage v1alpha1\n\n")
	fmt.Fprintf(&b, "func init() {\n")
	fmt.Fprintf(&b, "\tfieldDocs = map[string]FieldDoc{\n")
	var keys []string
	docs := map[string]field{}
	for _, t := range s.order {
		for _, f := range t.Fields {
			k := t.Name + "." + f.Key
			keys = append(keys, k)
			docs[k] = f
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := docs[k]
		fmt.Fprintf(&b, "\t%q: {Doc: %q", k, strings.Join(f.Doc, "\n"))
		if f.HasDefault {
			fmt.Fprintf(&b, ", Default: %q", f.Default)
		}
		if len(f.Options) > 0 {
			fmt.Fprintf(&b, ", Options: %#v", f.Options)
		}
		if f.Required {
			fmt.Fprintf(&b, ", Required: true")
		}
		if f.Deprecated {
			fmt.Fprintf(&b, ", Deprecated: true")
		}
		fmt.Fprintf(&b, "},\n")
	}
	fmt.Fprintf(&b, "}\n}\n")
	return format.Source(b.Bytes())
}
