// Package jsonrecord reads the JSON records kisgen keeps in a state directory strictly:
// a field the record type does not know is an error, never silently dropped, so that a
// record written by another kisgen is noticed rather than half read.
package jsonrecord

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Read decodes the file at path into v. found is false, with no error, when there is no
// file; a file that does not decode is an error wrapping bad, naming the file.
func Read(path string, v any, bad error) (found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, fmt.Errorf("%w: %s: %v", bad, path, err)
	}
	return true, nil
}
