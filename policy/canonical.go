package policy

import (
	"strings"

	"github.com/ajwt/ajwt/protocol"
)

// CanonicalPath is §8's path canonicalization: the one spelling of a
// request path that the enforcer matches routes against and the proxy
// forwards. escaped is the path as the client sent it (percent-encoding
// intact, no query).
//
// Percent-encoded unreserved characters (RFC 3986 §2.3) are decoded, the
// hex digits of every other escape uppercased, and bytes that may not
// appear in a path (RFC 3986 §3.3: space, '"', non-ASCII, …) escaped, as
// dpop.NormalizeHTU does, so a proof for any spelling of an accepted path
// compares equal to its canonical form. A path that then holds an encoded
// "/" or "\", a raw "\", a control character (raw or encoded), a "." or
// ".." segment, an empty segment, a ";" (raw or encoded: servers strip
// path parameters, some after decoding) or a malformed escape is refused
// with ErrNonCanonicalPath: upstream servers disagree on what these mean,
// and the one the policy matched must be the one the upstream serves.
//
// A trailing "/" is kept (upstreams that redirect "/a" to "/a/" need it);
// Match ignores it.
func CanonicalPath(escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", nonCanonical("the path must start with /")
	}
	out, err := normalizeOctets(escaped)
	if err != nil {
		return "", err
	}
	return out, checkSegments(out)
}

func nonCanonical(why string) error {
	return protocol.ErrNonCanonicalPath.WithDescription("%s", why)
}

// normalizeOctets rewrites escapes and escapes stray bytes; a path that
// is already in canonical form is returned as is, without allocating (the
// enforcer canonicalizes, then Match does again).
func normalizeOctets(p string) (string, error) {
	i := canonicalPrefix(p)
	if i == len(p) {
		return p, nil
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	b.WriteString(p[:i])
	for ; i < len(p); i++ {
		if p[i] != '%' {
			if err := writeRaw(&b, p[i]); err != nil {
				return "", err
			}
			continue
		}
		if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
			return "", nonCanonical("malformed percent-encoding")
		}
		if err := writeDecoded(&b, unhex(p[i+1])<<4|unhex(p[i+2])); err != nil {
			return "", err
		}
		i += 2
	}
	return b.String(), nil
}

// canonicalPrefix is the length of p's longest prefix that is already in
// canonical form: path characters and escapes that stay escaped.
func canonicalPrefix(p string) int {
	i := 0
	for i < len(p) {
		switch {
		case isPlainPathChar(p[i]):
			i++
		case p[i] == '%' && i+2 < len(p) && isUpperHex(p[i+1]) && isUpperHex(p[i+2]) && staysEscaped(unhex(p[i+1])<<4|unhex(p[i+2])):
			i += 3
		default:
			return i
		}
	}
	return i
}

func staysEscaped(c byte) bool {
	return c != '/' && !isUnreserved(c) && refuseOctet(c) == nil
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// writeRaw writes a byte that arrived unencoded: a path character as
// itself, anything else escaped.
func writeRaw(b *strings.Builder, c byte) error {
	if err := refuseOctet(c); err != nil {
		return err
	}
	if isPlainPathChar(c) {
		b.WriteByte(c)
		return nil
	}
	writeEscape(b, c)
	return nil
}

// writeDecoded writes an octet that arrived percent-encoded: unreserved
// characters decoded, anything else kept escaped (an escaped reserved
// character is data, not a delimiter: RFC 3986 §2.2).
func writeDecoded(b *strings.Builder, c byte) error {
	if c == '/' {
		return nonCanonical("encoded / in the path")
	}
	if err := refuseOctet(c); err != nil {
		return err
	}
	if isUnreserved(c) {
		b.WriteByte(c)
		return nil
	}
	writeEscape(b, c)
	return nil
}

// refuseOctet refuses the octets no canonical path holds, raw or encoded.
func refuseOctet(c byte) error {
	switch {
	case c < 0x20 || c == 0x7f:
		return nonCanonical("control character in the path")
	case c == ';':
		return nonCanonical("path parameter (;) in the path")
	case c == '\\':
		return nonCanonical("\\ in the path")
	}
	return nil
}

func writeEscape(b *strings.Builder, c byte) {
	const hexDigits = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&15])
}

// checkSegments refuses empty, "." and ".." segments; a single trailing
// "/" (and the root "/") is not an empty segment.
func checkSegments(p string) error {
	if p == "/" {
		return nil
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(p[1:], "/"), "/") {
		switch seg {
		case "":
			return nonCanonical("empty path segment (//)")
		case ".", "..":
			return nonCanonical("dot segment in the path")
		}
	}
	return nil
}

// trimTrailingSlash drops one final "/" of a path other than "/".
func trimTrailingSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}

// isPlainPathChar: the bytes a canonical path holds literally — pchar of
// RFC 3986 §3.3 and "/", less ";" and the "%" of escapes.
func isPlainPathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~!$&'()*+,=:@/", c) >= 0
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
