package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	yamlv4 "go.yaml.in/yaml/v4"
)

// syntaxError is where a YAML syntax error is, as precisely as a parser can say.
type syntaxError struct {
	msg       string
	line, col int
}

// locateSyntaxError parses data again with go-yaml v4 to place a syntax error that v3 (the
// plan's parser) reported. v3 gives a line only, and for parser errors the line where
// the enclosing construct starts, counted from 0 ("line 1" for a bracket left open on
// line 2 and found missing on line 3); some scanner errors get no line at all. v4 is
// the same libyaml port with the problem's own line and column, and the construct it
// was in. It reports false when v4 finds no error, and the caller keeps v3's words.
func locateSyntaxError(data []byte) (syntaxError, bool) {
	err := decodeV4Safely(data)
	var le *yamlv4.LoadError
	if !errors.As(err, &le) || le.Mark.Line == 0 {
		return syntaxError{}, false
	}
	msg := le.Message
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
		msg = fmt.Sprintf("%s (%s that starts at line %d, column %d)", msg, le.ContextMsg, le.ContextMark.Line, le.ContextMark.Column)
	}
	line, col := le.Mark.Line, le.Mark.Column
	// At the end of a file without a final newline the parser's mark is on the line
	// after the last: point at the end of the last line instead.
	if lines := bytes.Split(data, []byte("\n")); line > len(lines) {
		line, col = len(lines), utf8.RuneCount(lines[len(lines)-1])+1
	}
	return syntaxError{msg: msg, line: line, col: col}, true
}

// decodeV4Safely reads every document of data with v4 and returns its first error; a
// panic inside the library becomes an error, as in decodeSafely.
func decodeV4Safely(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	dec := yamlv4.NewDecoder(bytes.NewReader(data))
	for range maxDocuments {
		var n yamlv4.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

// maxDocuments bounds the documents decodeV4Safely reads: a plan has one, and the loader
// refuses a second, so an error past the second is never the one reported.
const maxDocuments = 2
