// Package checksum computes an agent's identity (PROTOCOL.md §2): the
// SHA-256 of the RFC 8785 canonical JSON of its prompt template (normalised,
// §2.3), its tools and its configuration. A changed agent is a different
// agent.
//
//	spec, err := checksum.ParseJSON(data)    // strict: unknown members, duplicates, placeholders
//	sum, err := checksum.Sum(spec)           // "sha256:<64 hex>"
//	prompt, err := spec.Render(map[string]string{"repo": "acme/web"}) // §2.5
//
// Render is the only safe way to fill a template at run time: every value
// must fully match its declared pattern, fit max_length and hold no line
// break, so what reaches the model is the checked template plus values that
// cannot smuggle instructions.
//
// The "deep" checksum of a tool's code, source_sha256, is HashSource: SHA-256
// over the files in sorted path order, each contributing
// path || 0x00 || decimal length || 0x00 || content.
package checksum
