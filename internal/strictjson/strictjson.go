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
)

// ErrDuplicateKey, ErrTooDeep and ErrTrailingData are the failures Check reports.
var (
	ErrDuplicateKey = errors.New("strictjson: duplicate member name")
	ErrTooDeep      = errors.New("strictjson: nesting too deep")
	ErrTrailingData = errors.New("strictjson: data after the JSON value")
)

// Check verifies that data is exactly one JSON value with no duplicate member
// names in any object and no more than maxDepth nested arrays and objects.
func Check(data []byte, maxDepth int) error {
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
