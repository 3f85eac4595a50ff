// Package strictjson checks JSON text for what encoding/json silently
// tolerates but a security protocol must not: duplicate member names (two
// parsers could each pick a different value), excessive nesting and trailing
// data. It does not decode; callers decode after the check passes.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrDuplicateKey, ErrTooDeep and ErrTrailingData are the failures Check reports.
var (
	ErrDuplicateKey = errors.New("strictjson: duplicate member name")
	ErrTooDeep      = errors.New("strictjson: nesting too deep")
	ErrTrailingData = errors.New("strictjson: data after the JSON value")
)

// Check verifies that data is exactly one JSON value with no duplicate member
// names in any object and no more than maxDepth nested arrays and objects.
//
// Valid documents (the hot path: every token and proof) are checked by one
// allocation-light scan after json.Valid; anything invalid goes through the
// token-by-token checker, which names the problem.
func Check(data []byte, maxDepth int) error {
	if !json.Valid(data) {
		return slowCheck(data, maxDepth)
	}
	return scan(data, maxDepth)
}

// frame is one open array or object during the scan.
type frame struct {
	object bool
	keys   []string            // small objects: a linear scan beats hashing
	set    map[string]struct{} // large objects: no quadratic blow-up
}

const smallObject = 16

// scan walks syntactically valid JSON: only brackets, commas and strings
// matter, and a string right after '{' or ',' inside an object is a key.
func scan(data []byte, maxDepth int) error {
	var stack []frame
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if len(stack) >= maxDepth {
				return ErrTooDeep
			}
			stack = append(stack, frame{object: data[i] == '{'})
			expectKey = data[i] == '{'
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = stack[len(stack)-1].object
		case '"':
			end := closingQuote(data, i)
			if expectKey {
				if err := addKey(&stack[len(stack)-1], data[i+1:end]); err != nil {
					return err
				}
				expectKey = false
			}
			i = end
		}
	}
	return nil
}

// closingQuote returns the index of the quote ending the string at open.
func closingQuote(data []byte, open int) int {
	for j := open + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return len(data) - 1 // unreachable for valid JSON
}

func addKey(f *frame, raw []byte) error {
	key := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
		// Decode as encoding/json would, so "\u0061" and "a" (or two
		// invalid byte sequences that both become U+FFFD) are the same key.
		var k string
		if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &k); err != nil {
			return fmt.Errorf("strictjson: %w", err)
		}
		key = k
	}
	if f.set != nil {
		if _, dup := f.set[key]; dup {
			return fmt.Errorf("%w %q", ErrDuplicateKey, key)
		}
		f.set[key] = struct{}{}
		return nil
	}
	for _, seen := range f.keys {
		if seen == key {
			return fmt.Errorf("%w %q", ErrDuplicateKey, key)
		}
	}
	f.keys = append(f.keys, key)
	if len(f.keys) > smallObject {
		f.set = make(map[string]struct{}, 2*len(f.keys))
		for _, k := range f.keys {
			f.set[k] = struct{}{}
		}
		f.keys = nil
	}
	return nil
}

// slowCheck is the token-by-token checker: exact errors for invalid input.
func slowCheck(data []byte, maxDepth int) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := value(dec, maxDepth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrTrailingData
	}
	return nil
}

func value(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("strictjson: %w", err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth <= 0 {
		return ErrTooDeep
	}
	if delim == '{' {
		return object(dec, depth-1)
	}
	return array(dec, depth-1)
}

func object(dec *json.Decoder, depth int) error {
	seen := make(map[string]struct{})
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("strictjson: %w", err)
		}
		key, _ := tok.(string) // the decoder guarantees a string key here
		if _, dup := seen[key]; dup {
			return fmt.Errorf("%w %q", ErrDuplicateKey, key)
		}
		seen[key] = struct{}{}
		if err := value(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // closing brace
	return err
}

func array(dec *json.Decoder, depth int) error {
	for dec.More() {
		if err := value(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}
