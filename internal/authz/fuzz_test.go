package authz

import (
	"context"
	"strings"
	"testing"
)

// FuzzForwarded: whatever a gateway forwards, the authorizer either builds
// the one request it names (method, host and an origin-form path as
// given) or refuses; it never panics.
func FuzzForwarded(f *testing.F) {
	for _, seed := range [][3]string{
		{"GET", "https", "https://api.example/repos/a/b?x=1"},
		{"POST", "http", "http://127.0.0.1:9000/%2e%2e/x#frag"},
		{"GE T", "ftp", "//evil/x"},
		{"", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, method, scheme, absolute string) {
		s, host, uri, ok := splitAbsolute(absolute)
		if ok && (!strings.HasPrefix(uri, "/") || !strings.EqualFold(absolute, s+"://"+host+uri)) {
			t.Fatalf("split %q into %q %q %q", absolute, s, host, uri)
		}
		fw := &Forwarded{Method: method, Scheme: scheme, Host: host, URI: uri}
		r, err := fw.request(context.Background())
		if err != nil {
			return
		}
		if r.Method != method || r.Host != host || r.RequestURI != uri || (scheme == "https") != (r.TLS != nil) {
			t.Fatalf("request %s %s %s from %+v", r.Method, r.Host, r.RequestURI, fw)
		}
	})
}
