package wizard

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/plan/v1alpha1"
)

// EncodeOptions changes what Encode writes.
type EncodeOptions struct {
	// Header is the comment at the top of the file, one line per line, without "#".
	Header string
	// Keep lists YAML paths written even when their value is zero: answers such as
	// `network_policy: false` that a reader of the plan should see.
	Keep []string
	// Comments adds a comment above the key at a YAML path, after its documentation.
	Comments map[string]string
}

// Encode writes a plan as YAML, built as a node tree (never a text template, so no value
// can break the document): keys in schema order, map keys sorted, zero values left out
// unless kept (a missing key takes the same default), and each key explained by its
// documentation from types.go the first time it appears. Decoding the output gives p
// back, and the same p always gives the same bytes.
func Encode(p *v1alpha1.Plan, opts EncodeOptions) ([]byte, error) {
	e := &encoder{opts: opts, keep: map[string]bool{}, documented: map[string]bool{}}
	for _, k := range opts.Keep {
		e.keep[k] = true
	}
	top, _ := e.value(reflect.ValueOf(p).Elem(), "")
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{top}}
	if opts.Header != "" {
		doc.HeadComment = opts.Header
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode plan: %w", err)
	}
	return b.Bytes(), nil
}

type encoder struct {
	opts       EncodeOptions
	keep       map[string]bool
	documented map[string]bool
}

// value encodes v and says whether it holds anything (a non-zero value, or a kept one).
func (e *encoder) value(v reflect.Value, path string) (*yaml.Node, bool) {
	scalar := func(tag, s string, set bool) (*yaml.Node, bool) {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}, set
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return scalar("!!null", "null", false)
		}
		return e.value(v.Elem(), path)
	case reflect.Struct:
		m := &yaml.Node{Kind: yaml.MappingNode}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if key == "" || key == "-" || !f.IsExported() {
				continue
			}
			child := joinPath(path, key)
			n, set := e.value(v.Field(i), child)
			if !set && !e.keep[child] {
				continue
			}
			k := &yaml.Node{Kind: yaml.ScalarNode, Value: key}
			if key != "apiVersion" && key != "kind" || path != "" {
				k.HeadComment = e.comment(t.Name(), key, child)
			}
			if path == "" && len(m.Content) > 2 {
				// A blank line between top-level sections (apiVersion and kind stay together).
				k.HeadComment = "\n" + k.HeadComment
			}
			m.Content = append(m.Content, k, n)
		}
		if strings.HasSuffix(path, "]") && len(m.Content) > 0 {
			// In a list item, the first key's comment goes above the "- ".
			m.HeadComment, m.Content[0].HeadComment = m.Content[0].HeadComment, ""
		}
		return m, len(m.Content) > 0
	case reflect.String:
		return scalar("!!str", v.String(), v.String() != "")
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()), v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10), v.Int() != 0)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return scalar("!!int", strconv.FormatUint(v.Uint(), 10), v.Uint() != 0)
	case reflect.Slice:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		for i := 0; i < v.Len(); i++ {
			n, _ := e.value(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			s.Content = append(s.Content, n)
		}
		return s, v.Len() > 0
	case reflect.Map:
		m := &yaml.Node{Kind: yaml.MappingNode}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		for _, k := range keys {
			n, _ := e.value(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())), joinPath(path, k))
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, n)
		}
		return m, v.Len() > 0
	}
	// The schema holds only the kinds above; anything else is a programming error that
	// the round-trip tests catch.
	return scalar("!!str", fmt.Sprint(v.Interface()), true)
}

// comment is the head comment of a key: its documentation the first time it appears,
// then whatever the caller adds for this path.
func (e *encoder) comment(typeName, key, path string) string {
	var lines []string
	if d, ok := v1alpha1.Doc(typeName, key); ok && !e.documented[d.Doc] {
		// Fields of the same meaning in several places (expected_count, machine…) are
		// explained once.
		e.documented[d.Doc] = true
		lines = append(lines, strings.Split(d.Doc, "\n")...)
		if len(d.Options) > 1 {
			lines = append(lines, "One of: "+strings.Join(d.Options, ", ")+".")
		}
	}
	if c := e.opts.Comments[path]; c != "" {
		lines = append(lines, strings.Split(c, "\n")...)
	}
	return strings.Join(lines, "\n")
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
