package authserver

import (
	"strings"
	"testing"
)

func TestResultDigest(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		in, want, detail string
		bad              bool
	}{
		{"", "", "", false},
		{hex64, "sha256:" + hex64, "sha256:" + hex64, false},
		{"SHA256:" + strings.ToUpper(hex64), "sha256:" + hex64, "sha256:" + hex64, false},
		{"deadbeef", "deadbeef", `"deadbeef"`, false},       // §5 fixes no form: kept, quoted
		{"x by=admin", "x by=admin", `"x by=admin"`, false}, // cannot pass for another field
		{"line\nbreak", "", "", true},                       // not printable
		{strings.Repeat("a", 257), "", "", true},            // too long
	}
	for _, tt := range tests {
		got, err := resultDigest(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("resultDigest(%q) = %q, %v; want %q (error: %v)", tt.in, got, err, tt.want, tt.bad)
		}
		if err == nil && got != "" && quoteUnlessDigest(got) != tt.detail {
			t.Errorf("detail of %q = %s, want %s", tt.in, quoteUnlessDigest(got), tt.detail)
		}
	}
}
