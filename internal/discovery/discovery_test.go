package discovery

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMaxAge(t *testing.T) {
	tests := map[string]time.Duration{
		"max-age=60": time.Minute, "public, max-age=10": 10 * time.Second, "no-store": 0, "": 0, "max-age=x": 0,
	}
	for in, want := range tests {
		if got := maxAge(in); got != want {
			t.Errorf("maxAge(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestFetch: the metadata must name the issuer it was fetched from and
// the endpoints every reader needs; documents are read within the bound.
func TestFetch(t *testing.T) {
	var doc string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, strings.ReplaceAll(doc, "ISSUER", "http://"+r.Host))
	}))
	defer srv.Close()
	tests := []struct{ doc, wantErr string }{
		{`{"issuer":"ISSUER","token_endpoint":"ISSUER/token","jwks_uri":"ISSUER/jwks.json","run_endpoint":"ISSUER/v1/runs"}`, ""},
		{`{"issuer":"http://elsewhere","token_endpoint":"x","jwks_uri":"y"}`, "names issuer"},
		{`{"issuer":"ISSUER","token_endpoint":"ISSUER/token"}`, "jwks_uri"},
		{`{"issuer":"ISSUER","jwks_uri":"ISSUER/jwks.json"}`, "token_endpoint"},
		{`{"issuer":` + strings.Repeat(" ", MaxDocument) + `"ISSUER"}`, "unexpected end"},
	}
	for _, tt := range tests {
		doc = tt.doc
		m, err := Fetch(context.Background(), srv.Client(), srv.URL+"/")
		if tt.wantErr == "" {
			if err != nil || m.RunEndpoint != srv.URL+"/v1/runs" {
				t.Errorf("%.60s: %+v, %v", tt.doc, m, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%.60s: err = %v, want %q", tt.doc, err, tt.wantErr)
		}
	}
}
