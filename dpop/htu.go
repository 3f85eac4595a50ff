package dpop

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeHTU reduces an absolute http(s) URI to the form htu values are
// compared in (RFC 9449 §4.3 with the syntax- and scheme-based
// normalisation of RFC 3986 §6.2.2–6.2.3):
//
//   - scheme and host lowercased; IPv6 literals keep their brackets;
//   - the default port (80 for http, 443 for https) and an empty port
//     dropped, any other port written in plain decimal;
//   - an empty path becomes "/";
//   - percent-encoded unreserved characters decoded ("%7E" → "~"), the hex
//     digits of every other escape uppercased ("%2f" → "%2F"), and bytes
//     that may not appear in a path (space, non-ASCII, ...) escaped;
//   - query and fragment removed.
//
// Nothing else is rewritten, because a path is compared as the server
// routes it: "/a/" ≠ "/a", "/A" ≠ "/a", "%2F" ≠ "/", and dot segments are
// kept literally ("/a/../b" only ever matches itself, never "/b"). User
// information, non-ASCII hosts and IPv6 zones are refused.
func NormalizeHTU(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", errors.New("dpop: htu: not an absolute URI")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("dpop: htu: want an http or https URI")
	}
	host, err := normalizeHost(u.Hostname())
	if err != nil {
		return "", err
	}
	port, err := normalizePort(scheme, u.Port())
	if err != nil {
		return "", err
	}
	path, err := normalizePath(rawPath(uri))
	if err != nil {
		return "", err
	}
	return scheme + "://" + host + port + path, nil
}

// normalizeHost lowercases ASCII letters only: Unicode case mapping would
// fold distinct hosts together (the Kelvin sign lowercases to "k"), so
// non-ASCII hosts, which HTTP clients send as punycode anyway, are refused.
func normalizeHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("dpop: htu: no host")
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 || h[i] == '%' {
			return "", errors.New("dpop: htu: host must be ASCII, without an IPv6 zone")
		}
	}
	h = strings.ToLower(h)
	if strings.Contains(h, ":") {
		return "[" + h + "]", nil
	}
	return h, nil
}

func normalizePort(scheme, p string) (string, error) {
	if p == "" {
		return "", nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", errors.New("dpop: htu: bad port")
	}
	if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
		return "", nil
	}
	return ":" + strconv.Itoa(n), nil
}

// rawPath is the path exactly as written in uri, cut the way url.Parse
// cuts it (fragment, then query, then the authority up to the first "/").
// Normalising this text rather than url.URL's decoded Path matters: Path
// has lost the difference between "%2F" and "/", and re-encoding it could
// turn one into the other.
func rawPath(uri string) string {
	uri, _, _ = strings.Cut(uri, "#")
	uri, _, _ = strings.Cut(uri, "?")
	_, rest, _ := strings.Cut(uri, "://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return ""
}

// normalizePath decodes escapes of unreserved characters, uppercases the
// others and escapes bytes that are not allowed in a path, so that the
// spellings of one path compare equal and nothing else does.
func normalizePath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", errors.New("dpop: htu: bad percent-encoding")
			}
			writeOctet(&b, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
		case isPathChar(c):
			b.WriteByte(c)
		default:
			writeOctet(&b, c)
		}
	}
	return b.String(), nil
}

// writeOctet writes an octet that arrived percent-encoded or must be:
// an unreserved character as itself, anything else as %XX.
func writeOctet(b *strings.Builder, c byte) {
	if isUnreserved(c) {
		b.WriteByte(c)
		return
	}
	const hexDigits = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&15])
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

// isUnreserved is RFC 3986 §2.3.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar is pchar or "/" of RFC 3986 §3.3, less "%" (handled apart).
func isPathChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte("!$&'()*+,;=:@/", c) >= 0
}
