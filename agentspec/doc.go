// Package checksum computes an agent's identity (PROTOCOL.md §2): the
// SHA-256 of the RFC 8785 canonical JSON of its normalized prompt
// template, its substitutions, its tools and its configuration. A changed
// agent is a different agent.
//
//	spec, err := agentspec.ParseJSON(data) // strict; specfile.Load reads YAML too
//	sum, err := agentspec.Sum(spec)        // "sha256:<64 hex>"
//	ok := sum.Equal(registered)           // constant time
//	prompt, err := spec.Render(map[string]string{"repo": "acme/web"})
//
// What it implements:
//
//   - §2.1 ParseJSON: unknown members, duplicate member names at any
//     level, nesting deeper than 32, trailing data, invalid UTF-8 and
//     unpaired surrogate escapes are errors (encoding/json alone would
//     replace the last two with U+FFFD). Errors are *SpecError with field,
//     line and column; errors.Is(err, protocol.ErrInvalidRequest) holds.
//   - §2.2 Canonical: the object {agent_id, configuration?, prompt_template,
//     substitutions?, tools} in JCS (RFC 8785, internal/jcs). Validate
//     checks the contract's rules first; see its documentation.
//   - §2.3 NormalizePrompt: NFC, CRLF and lone CR to LF, lines trimmed of
//     Unicode White_Space, empty lines dropped, joined with LF.
//   - §2.4 Sum, ParseChecksum (prefixed or bare lowercase hex), Equal.
//   - §2.5 Render: the only safe way to fill a template at run time.
//
// Choices where the contract is silent:
//
//   - Substitution pattern and max_length are both required; max_length is
//     from 1 to MaxValueLength and counts characters (runes), not bytes.
//     Any JSON number with an integral value is accepted for it (100, 100.0
//     and 1e2 are one number to RFC 8785).
//   - Placeholders are found by the leftmost "{{", characters other than
//     braces, "}}"; inside, the name must match [A-Za-z_][A-Za-z0-9_]*, so
//     "{{ name }}" is an error, not literal text.
//   - Depth: the whole spec document is limited to 32 nested containers
//     (the spec object is 1, configuration 2, a tool's parameters 4), the
//     same count ParseJSON applies, so Validate and Canonical agree.
//   - Numbers (§2.4: a spec is I-JSON, RFC 7493) must name exactly the
//     value their canonical form names, or two different specs would share
//     one checksum. Below 2^53 in magnitude a number must be the shortest
//     decimal that reads back as its double, which every JSON serializer
//     writes (0.1, 4.50, 1e2; not 0.10000000000000001). From 2^53 on,
//     where doubles are integers, that decimal must also be the double
//     exactly: 9007199254740992 and 1e21 are valid; 9007199254740993 and
//     123456789012345678 (no double holds them), 1e30 (neither) and
//     1152921504606846976 (a double, but written 1152921504606847000) are
//     not. Nor is a non-zero number that reads as 0 (1e-400). Go values
//     are checked as the JSON an encoder writes for them: float64 as its
//     shortest decimal, int and int64 as their digits (which must also be
//     exactly a double). Quote such values to make them strings.
//   - ParseChecksum refuses uppercase hex.
//   - Render checks a value in this order: present, valid UTF-8, no line
//     break (LF, CR, VT, FF, U+0085, U+2028, U+2029), length, pattern.
//     Errors name the placeholder, never the value.
//
// The "deep" checksum of a tool's code (source_sha256) is HashSource:
// SHA-256 over the regular files in ascending byte order of their
// slash-separated paths, each contributing
//
//	path || 0x00 || decimal length of content || 0x00 || content
//
// (path as given by the fs.FS, relative to its root; the length in ASCII
// decimal without leading zeros). For example, a directory holding
// pkg/a.go ("package a\n") and pkg/sub/b.go ("package sub\n") hashes the
// bytes "pkg/a.go\x0010\x00package a\npkg/sub/b.go\x0012\x00package sub\n".
// Symbolic links met while walking and empty file sets are refused.
package agentspec
