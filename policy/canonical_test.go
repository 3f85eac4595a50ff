package policy

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/protocol"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in, want string // want "" = refused
	}{
		{"/", "/"},
		{"/repos/acme/web/secrets", "/repos/acme/web/secrets"},
		{"/repos/acme/web/%73ecrets", "/repos/acme/web/secrets"},
		{"/%41%5a%61%7A%30%39%2D%2E%5F%7E", "/AZaz09-._~"},
		{"/a%2a%3a%40%21", "/a%2A%3A%40%21"}, // reserved: kept escaped, hex uppercased
		{"/a%25b", "/a%25b"},
		{"/a%c3%a9", "/a%C3%A9"},
		{"/a b\"<>^`{|}[]", "/a%20b%22%3C%3E%5E%60%7B%7C%7D%5B%5D"},
		{"/caf\xc3\xa9", "/caf%C3%A9"},
		{"/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="},
		{"/health/", "/health/"},
		{"/a/.b/..c/c.", "/a/.b/..c/c."},
		{"/a/%2e%2eb", "/a/..b"},
		// refused
		{"", ""},
		{"*", ""},
		{"a/b", ""},
		{"//", ""},
		{"/a//b", ""},
		{"/a/b//", ""},
		{"/.", ""},
		{"/..", ""},
		{"/a/./b", ""},
		{"/a/../b", ""},
		{"/a/..", ""},
		{"/a/../", ""},
		{"/a/%2e%2e/b", ""},
		{"/a/%2E/b", ""},
		{"/a/.%2e", ""},
		{"/a;x=1", ""},
		{"/a;", ""},
		{"/a%3bx", ""},
		{"/a%3Bx", ""},
		{"/a%2fb", ""},
		{"/a%2Fb", ""},
		{"/a%5cb", ""},
		{"/a\\b", ""},
		{"/a%00", ""},
		{"/a%0a", ""},
		{"/a%0D%0A", ""},
		{"/a%1f", ""},
		{"/a%7f", ""},
		{"/a\x00", ""},
		{"/a\tb", ""},
		{"/a\x7f", ""},
		{"/a%zz", ""},
		{"/a%4", ""},
		{"/a%", ""},
		{"/a%g0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CanonicalPath(tt.in)
			if tt.want == "" {
				if !errors.Is(err, protocol.ErrNonCanonicalPath) {
					t.Fatalf("CanonicalPath(%q) = %q, %v; want non_canonical_path", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CanonicalPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestCanonicalPathKeepsCanonicalPaths: a canonical path is returned as
// the same string, without allocating (the common case on every request).
func TestCanonicalPathKeepsCanonicalPaths(t *testing.T) {
	for _, in := range []string{"/repos/acme/web/contents/src/main.go", "/caf%C3%A9/a%2A/", "/"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = CanonicalPath(in) }); n != 0 {
			t.Fatalf("%v allocations for canonical %q", n, in)
		}
	}
}

// FuzzCanonicalPath: no input panics; an accepted path is canonical
// (canonicalizing it again changes nothing), holds none of the refused
// constructs, decodes to what the input decodes to, equals the path a
// DPoP htu for the input normalizes to, and Match never disagrees with it.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/", "/a/b/", "/repos/acme/web/%73ecrets", "/x/%2e%2e/y", "/a;b", "/a%2Fb", "/%zz", "/caf\xc3\xa9", "/a b", "//", "/%25%32%66"} {
		f.Add(s)
	}
	p, err := Compile(Rules{Issuer: "http://i", Resource: "https://r", Routes: []Rule{
		{Match: MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/secrets"}},
		{Match: MatchRule{Method: "GET", Path: "/**"}},
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CanonicalPath(in)
		_, _, matched := p.Match("GET", in)
		if err != nil {
			if matched {
				t.Fatalf("Match routed %q, which is not canonical", in)
			}
			return
		}
		if !matched {
			t.Fatalf("/** did not match canonical %q", out)
		}
		if again, err := CanonicalPath(out); err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		checkCanonical(t, out)
		if !strings.ContainsAny(in, "?#") { // a request path never holds them raw
			htu, err := dpop.NormalizeHTU("http://h" + in)
			if err != nil || htu != "http://h"+out {
				t.Fatalf("a proof for %q is compared as %q (%v), the request as %q", in, htu, err, out)
			}
		}
		want, err1 := url.PathUnescape(in)
		got, err2 := url.PathUnescape(out)
		if err1 != nil || err2 != nil || got != want {
			t.Fatalf("%q decodes to %q, its canonical form %q to %q", in, want, out, got)
		}
	})
}

func checkCanonical(t *testing.T, out string) {
	t.Helper()
	if !strings.HasPrefix(out, "/") || strings.Contains(out, "//") || strings.ContainsAny(out, ";\\") {
		t.Fatalf("refused construct in %q", out)
	}
	for seg := range strings.SplitSeq(trimTrailingSlash(out)[1:], "/") {
		if seg == "." || seg == ".." {
			t.Fatalf("dot segment in %q", out)
		}
	}
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c < 0x21 || c >= 0x7f {
			t.Fatalf("raw byte %#x in %q", c, out)
		}
		if c == '%' {
			hex := out[i+1 : i+3]
			if strings.ToUpper(hex) != hex || hex == "2F" || hex == "5C" || hex == "3B" || hex < "20" || hex == "7F" {
				t.Fatalf("escape %%%s in %q", hex, out)
			}
			if v, _ := url.PathUnescape("%" + hex); len(v) == 1 && isUnreserved(v[0]) {
				t.Fatalf("escaped unreserved %%%s in %q", hex, out)
			}
		}
	}
}
