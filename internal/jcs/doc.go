// Package jcs encodes JSON values in the JSON Canonicalization Scheme of
// RFC 8785, the byte form the agent checksum hashes (PROTOCOL.md §2.2):
//
//   - object members sorted by the UTF-16 code units of their names
//     (RFC 8785 §3.2.3), which differs from UTF-8 byte order where a
//     character above U+FFFF meets one in U+E000–U+FFFF;
//   - strings escaped as §3.2.2.2 prescribes: \" \\ \b \f \n \r \t, \u00xx
//     (lowercase hex) for the other C0 controls, everything else literal
//     UTF-8; invalid UTF-8 is an error, never replaced;
//   - numbers in ECMAScript Number.prototype.toString form (§3.2.2.3): -0
//     is 0, 1e21 is 1e+21, 1e-7 stays 1e-7, 0.000001 stays 0.000001; NaN
//     and infinities are errors;
//   - no insignificant white space, at most MaxDepth nested containers.
//
// Marshal takes a generic value tree, so that callers build exactly the
// object they mean to hash:
//
//	b, err := jcs.Marshal(map[string]any{"b": json.Number("1.0"), "a": []any{"x", nil}})
//	// {"a":["x",null],"b":1}
//
// Values: nil, bool, string, float64, int and int64 (when exactly
// representable as a float64), json.Number (JSON number syntax, parsed to
// float64 first, so "1.0" is 1), map[string]any, []any, map[string]string
// and []string.
//
// Marshal and Append encode any number RFC 8785 can. Agent specs are
// I-JSON (RFC 7493, PROTOCOL.md §2.4) and go through AppendIJSON, which
// also refuses a number whose canonical form would name another value
// than the one given (ParseIJSON, CheckIJSON): 9007199254740993 reads as
// the double 9007199254740992, so two different specs would share one
// canonical form.
package jcs
