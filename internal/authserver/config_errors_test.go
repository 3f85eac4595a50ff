package authserver

import (
	"strings"
	"testing"
)

// TestConfigErrorsNameTheFile: configuration errors name YAML fields and
// values, never Go types, and out-of-range knobs are refused at start
// instead of panicking later or refusing every request.
func TestConfigErrorsNameTheFile(t *testing.T) {
	const base = "issuer: http://127.0.0.1:8420\nclients:\n  - {client_id: app, client_secret: app-secret-of-32-characters-at-least, scopes: [ajwt:run]}\n"
	tests := []struct{ yaml, want string }{
		{base + "token_ttl: 300\n", `line 4: token_ttl: want a duration such as 300s, got 300`},
		{strings.Replace(base, "scopes:", "scope:", 1), `line 3: unknown field "scope"`},
		{base + "runs_per_minute: many\n", `line 4: runs_per_minute: want a whole number, got the text "many"`},
		{base + "key_refresh: -1s\n", "key_refresh and feed_poll"},
		{base + "feed_poll: -1s\n", "key_refresh and feed_poll"},
		{base + "token_requests_per_second: -1\n", "want positive numbers"},
		{base + "failed_grants_per_minute: -5\n", "want positive numbers"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "authserver.") {
			t.Errorf("%q:\n err = %v\nwant %s", tt.yaml, err, tt.want)
		}
	}
}
