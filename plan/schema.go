package plan

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/internal/report"
)

// maxNodes bounds how many YAML nodes one plan may expand to, aliases included, so that an
// alias bomb ("billion laughs") is refused instead of eating the machine's memory.
const maxNodes = 200_000

// schemaWalker checks a YAML tree against a Go struct type before anything is decoded:
// every unknown key (with a did-you-mean), wrong type and duplicate key is reported with
// its position, and the position of every value is indexed by its YAML path.
type schemaWalker struct {
	rep     *report.Report
	file    string
	pos     map[string]report.Position
	visited int
	// hintFor lets the caller explain an unknown key better than a spelling suggestion
	// (e.g. a kisgen-only key in a Kismatic plan).
	hintFor func(path, key string) string
	// bombed is set once maxNodes is exceeded; the walk then stops.
	bombed bool
	// firstAlias is the first alias met, and its path: an expansion bomb starts there.
	firstAlias     *yaml.Node
	firstAliasPath string
	// zeroed lists the paths of values of the wrong type: the decoder leaves them zero, so
	// content findings about them would only repeat the type error (see dropShadowed).
	zeroed []string
	// misspelt lists the paths that unknown keys were probably meant to be: "x is
	// required" about them would only repeat the did-you-mean.
	misspelt []string
}

func (w *schemaWalker) add(sev report.Severity, path string, n *yaml.Node, msg, hint string) {
	f := report.Finding{Severity: sev, File: w.file, Path: path, Message: msg, Hint: hint}
	if n != nil {
		f.Line, f.Column = n.Line, n.Column
	}
	w.rep.Add(f)
}

// typeError reports a value of the wrong type, which the decoder will leave zero.
func (w *schemaWalker) typeError(path string, n *yaml.Node, msg, hint string) {
	w.zeroed = append(w.zeroed, path)
	w.add(report.Error, path, n, msg, hint)
}

func (w *schemaWalker) record(path string, n *yaml.Node) {
	if _, ok := w.pos[path]; !ok {
		w.pos[path] = report.Position{Line: n.Line, Column: n.Column}
	}
}

// walk checks n against t at path.
func (w *schemaWalker) walk(path string, n *yaml.Node, t reflect.Type) {
	if w.bombed {
		return
	}
	w.visited++
	if w.visited > maxNodes {
		w.bombed = true
		// Point at the first alias: where the expansion starts, not where it overflowed.
		at, atPath := n, path
		if w.firstAlias != nil {
			at, atPath = w.firstAlias, w.firstAliasPath
		}
		w.add(report.Error, atPath, at, fmt.Sprintf("the plan expands to more than %d YAML values (aliases included)", maxNodes),
			"remove deeply nested anchors and aliases; a plan needs few of them")
		return
	}
	if n.Kind == yaml.AliasNode {
		if w.firstAlias == nil {
			w.firstAlias, w.firstAliasPath = n, path
		}
		w.walk(path, n.Alias, t)
		return
	}
	w.record(path, n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.typeError(path, n, fmt.Sprintf("expected a mapping (key: value lines), got %s", describe(n)),
				"indent the keys of this section under it")
			return
		}
		fields := structFields(t)
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Value == "<<" && k.Tag == "!!merge" {
				w.walkMerge(path, v, t)
				continue
			}
			key := k.Value
			child := joinPath(path, key)
			if prev, dup := seen[key]; dup {
				w.zeroed = append(w.zeroed, child)
				w.add(report.Error, child, k, fmt.Sprintf("duplicate key %q (first at line %d, column %d)", key, prev.Line, prev.Column),
					"keep one of them: YAML keeps only the last, which hides the first")
				continue
			}
			seen[key] = k
			f, ok := fields[key]
			if !ok {
				hint := ""
				if w.hintFor != nil {
					hint = w.hintFor(path, key)
				}
				if hint == "" {
					if s := suggest(key, keysOf(fields)); s != "" {
						hint = fmt.Sprintf("did you mean %q?", s)
						w.misspelt = append(w.misspelt, joinPath(path, s))
					} else {
						hint = "known keys here: " + strings.Join(keysOf(fields), ", ")
					}
				}
				w.add(report.Error, child, k, fmt.Sprintf("unknown key %q", key), hint)
				continue
			}
			w.walk(child, v, f.Type)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.typeError(path, n, fmt.Sprintf("expected a mapping, got %s", describe(n)), "write `key: value` lines indented under it")
			return
		}
		seen := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				w.typeError(path, k, "a key must be a plain value", "write the key as plain text")
				continue
			}
			child := joinPath(path, k.Value)
			if prev, dup := seen[k.Value]; dup {
				w.zeroed = append(w.zeroed, child)
				w.add(report.Error, child, k, fmt.Sprintf("duplicate key %q (first at line %d, column %d)", k.Value, prev.Line, prev.Column),
					"keep one of them: YAML keeps only the last, which hides the first")
				continue
			}
			seen[k.Value] = k
			w.record(child, k)
			w.walk(child, v, t.Elem())
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.typeError(path, n, fmt.Sprintf("expected a list, got %s", describe(n)),
				"write each item on its own line starting with \"- \"")
			return
		}
		for i, item := range n.Content {
			w.walk(fmt.Sprintf("%s[%d]", path, i), item, t.Elem())
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.typeError(path, n, fmt.Sprintf("expected a single value, got %s", describe(n)), "write one value; quote it if it starts with [, {, - or holds \": \"")
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			hint := "write true or false"
			if n.Kind == yaml.ScalarNode {
				switch strings.ToLower(n.Value) {
				case "yes", "on", "y":
					hint = "write true: YAML 1.2 reads \"" + n.Value + "\" as text, not as a boolean"
				case "no", "off", "n":
					hint = "write false: YAML 1.2 reads \"" + n.Value + "\" as text, not as a boolean"
				}
			}
			w.typeError(path, n, fmt.Sprintf("expected true or false, got %s", describe(n)), hint)
		}
	case reflect.Int, reflect.Int64:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!float" && wholeNumber.MatchString(n.Value) {
			// YAML reads an integer too large for 64 bits as a float.
			w.typeError(path, n, fmt.Sprintf("number %s is out of range", describeValue(n.Value)), "use a smaller number")
			return
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			w.typeError(path, n, fmt.Sprintf("expected a whole number, got %s", describe(n)), "write the number in digits, without quotes")
			return
		}
		v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			w.typeError(path, n, fmt.Sprintf("number %s is out of range", describeValue(n.Value)), "use a smaller number")
			return
		}
		if t.Kind() == reflect.Int && (v > math.MaxInt32 || v < math.MinInt32) {
			w.typeError(path, n, fmt.Sprintf("number %s is out of range", describeValue(n.Value)), "use a smaller number")
		}
	}
}

// walkMerge handles "<<: *anchor" merge keys by checking the merged mapping(s) in place.
func (w *schemaWalker) walkMerge(path string, v *yaml.Node, t reflect.Type) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		w.walk(path, v, t)
	case yaml.SequenceNode:
		for _, m := range v.Content {
			w.walkMerge(path, m, t)
		}
	default:
		w.typeError(path, v, "a merge key (<<) must refer to a mapping", "merge an anchored mapping, e.g. `<<: *defaults`")
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := describeValue(n.Value)
	switch n.Tag {
	case "!!int", "!!float":
		return "the number " + v
	case "!!bool":
		return "the boolean " + v
	}
	return strconv.Quote(v)
}

// wholeNumber matches a decimal integer of any size.
var wholeNumber = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// describeValue shortens a value quoted in a message.
func describeValue(v string) string {
	if utf8.RuneCountInString(v) > 40 {
		v = string([]rune(v)[:40]) + "…"
	}
	return v
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

type fieldInfo struct {
	Name string
	Type reflect.Type
}

// structFields maps the yaml keys of a struct type to its fields.
func structFields(t reflect.Type) map[string]fieldInfo {
	out := map[string]fieldInfo{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name := strings.Split(tag, ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = fieldInfo{Name: f.Name, Type: f.Type}
	}
	return out
}

func keysOf(m map[string]fieldInfo) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns the candidate closest to s when it is close enough to be a likely typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestDist <= limit || (best != "" && normalizeKey(best) == normalizeKey(s)) {
		return best
	}
	return ""
}

// normalizeKey folds case and separators so "podCIDRBlock", "pod-cidr-block" and
// "pod_cidr_block" compare equal.
func normalizeKey(s string) string {
	return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
