package packer

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// HCL building blocks. Values from the plan always go through cty values, which the
// writer escapes (quotes, backslashes, "${" and "%{"); only the constant code of this
// package (references, function names, operators) is written as tokens.

type tokens = hclwrite.Tokens

// str is a quoted string literal.
func str(s string) tokens { return hclwrite.TokensForValue(cty.StringVal(s)) }

// num is a number literal.
func num(n int) tokens { return hclwrite.TokensForValue(cty.NumberIntVal(int64(n))) }

// boolean is true or false.
func boolean(b bool) tokens { return hclwrite.TokensForValue(cty.BoolVal(b)) }

// ref is a reference such as var.mirror_url or path.root.
func ref(dotted string) tokens {
	parts := strings.Split(dotted, ".")
	trav := hcl.Traversal{hcl.TraverseRoot{Name: parts[0]}}
	for _, p := range parts[1:] {
		trav = append(trav, hcl.TraverseAttr{Name: p})
	}
	return hclwrite.TokensForTraversal(trav)
}

// call is a function call.
func call(name string, args ...tokens) tokens { return hclwrite.TokensForFunctionCall(name, args...) }

// tmpl is a string template: string parts are literal text (escaped), tokens parts are
// interpolated expressions ("${…}").
func tmpl(parts ...any) tokens {
	out := tokens{{Type: hclsyntax.TokenOQuote, Bytes: []byte(`"`)}}
	for _, part := range parts {
		switch v := part.(type) {
		case string:
			if v == "" {
				continue
			}
			lit := str(v)
			out = append(out, lit[1:len(lit)-1]...) // without the quotes
		case tokens:
			out = append(out, &hclwrite.Token{Type: hclsyntax.TokenTemplateInterp, Bytes: []byte("${")})
			out = append(out, v...)
			out = append(out, &hclwrite.Token{Type: hclsyntax.TokenTemplateSeqEnd, Bytes: []byte("}")})
		default:
			panic(fmt.Sprintf("tmpl: part of type %T", part))
		}
	}
	return append(out, &hclwrite.Token{Type: hclsyntax.TokenCQuote, Bytes: []byte(`"`)})
}

// op joins expressions with a binary or ternary operator's symbols: op(a, "!=", b).
func op(parts ...any) tokens {
	var out tokens
	for _, part := range parts {
		switch v := part.(type) {
		case string:
			typ, ok := map[string]hclsyntax.TokenType{"!=": hclsyntax.TokenNotEqual, "==": hclsyntax.TokenEqualOp,
				"?": hclsyntax.TokenQuestion, ":": hclsyntax.TokenColon}[v]
			if !ok {
				panic("op: unknown operator " + v)
			}
			out = append(out, &hclwrite.Token{Type: typ, Bytes: []byte(v), SpacesBefore: 1})
		case tokens:
			out = append(out, v...)
		}
	}
	return out
}

// list is a tuple, one element per line when there is more than one.
func list(elems []tokens) tokens {
	if len(elems) <= 1 {
		return hclwrite.TokensForTuple(elems)
	}
	out := tokens{{Type: hclsyntax.TokenOBrack, Bytes: []byte("[")}, newline()}
	for _, e := range elems {
		out = append(out, e...)
		out = append(out, &hclwrite.Token{Type: hclsyntax.TokenComma, Bytes: []byte(",")}, newline())
	}
	return append(out, &hclwrite.Token{Type: hclsyntax.TokenCBrack, Bytes: []byte("]")})
}

// row is a tuple on one line.
func row(elems ...tokens) tokens { return hclwrite.TokensForTuple(elems) }

// strs is a tuple of string literals.
func strs(ss ...string) tokens {
	elems := make([]tokens, 0, len(ss))
	for _, s := range ss {
		elems = append(elems, str(s))
	}
	return list(elems)
}

// object is an object constructor with string values, keys sorted by the caller.
func object(keys []string, vals map[string]tokens) tokens {
	attrs := make([]hclwrite.ObjectAttrTokens, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, hclwrite.ObjectAttrTokens{Name: str(k), Value: vals[k]})
	}
	return hclwrite.TokensForObject(attrs)
}

func newline() *hclwrite.Token {
	return &hclwrite.Token{Type: hclsyntax.TokenNewline, Bytes: []byte("\n")}
}

// comment appends comment lines to a body.
func comment(b *hclwrite.Body, lines ...string) {
	for _, l := range lines {
		text := "#"
		if l != "" {
			text += " " + strings.ReplaceAll(l, "\n", " ")
		}
		b.AppendUnstructuredTokens(tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(text + "\n")}})
	}
}

// attrs sets attributes in order.
type attr struct {
	name string
	val  tokens
}

func setAll(b *hclwrite.Body, as ...attr) {
	for _, a := range as {
		b.SetAttributeRaw(a.name, a.val)
	}
}

// variable declares a string or number variable.
func variable(b *hclwrite.Body, name, typ string, def tokens, desc string, sensitive bool) {
	v := b.AppendNewBlock("variable", []string{name}).Body()
	v.SetAttributeRaw("type", hclwrite.TokensForIdentifier(typ))
	if def != nil {
		v.SetAttributeRaw("default", def)
	}
	v.SetAttributeRaw("description", str(desc))
	if sensitive {
		v.SetAttributeRaw("sensitive", boolean(true))
	}
	b.AppendNewline()
}
