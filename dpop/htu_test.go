package dpop

import "testing"

func TestNormalizeHTU(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"already normal", "https://api.example/a", "https://api.example/a"},
		{"host case", "https://API.Example/a", "https://api.example/a"},
		{"scheme case", "HTTPS://api.example/a", "https://api.example/a"},
		{"path case kept", "https://api.example/A/b", "https://api.example/A/b"},
		{"default https port", "https://api.example:443/a", "https://api.example/a"},
		{"default http port", "http://api.example:80", "http://api.example/"},
		{"empty port", "https://api.example:/a", "https://api.example/a"},
		{"port with leading zero", "https://api.example:0443/a", "https://api.example/a"},
		{"other port kept", "http://api.example:8080/a?b#c", "http://api.example:8080/a"},
		{"https port on http kept", "http://api.example:443/", "http://api.example:443/"},
		{"empty path", "https://api.example", "https://api.example/"},
		{"empty path with query", "https://api.example?x=/y", "https://api.example/"},
		{"query and fragment dropped", "https://api.example/a?x=1#frag", "https://api.example/a"},
		{"trailing slash kept", "https://api.example/a/", "https://api.example/a/"},
		{"double slash kept", "https://api.example//a", "https://api.example//a"},
		{"dot segments kept", "https://api.example/a/../b/./c", "https://api.example/a/../b/./c"},
		{"unreserved escapes decoded", "https://api.example/%7e%41%2d%2E%5f", "https://api.example/~A-._"},
		{"reserved escape hex uppercased", "https://api.example/a%2fb%3a", "https://api.example/a%2Fb%3A"},
		{"encoded slash stays encoded", "https://api.example/a%2Fb", "https://api.example/a%2Fb"},
		{"sub-delims kept literal", "https://api.example/a!$&'()*+,;=:@", "https://api.example/a!$&'()*+,;=:@"},
		{"sub-delim escape kept escaped", "https://api.example/a%21", "https://api.example/a%21"},
		{"space escaped", "https://api.example/a b", "https://api.example/a%20b"},
		{"non-ASCII escaped", "https://api.example/é", "https://api.example/%C3%A9"},
		{"escaped slash beside a space", "https://api.example/a%2F b", "https://api.example/a%2F%20b"},
		{"IPv4", "http://127.0.0.1:8420/token", "http://127.0.0.1:8420/token"},
		{"IPv6", "https://[::1]:9000/x", "https://[::1]:9000/x"},
		{"IPv6 case", "https://[FE80::1]/x", "https://[fe80::1]/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeHTU(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeHTU(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeHTURefuses(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"relative", "/relative"},
		{"no scheme", "api.example/a"},
		{"ftp", "ftp://api.example/a"},
		{"opaque", "mailto:a@b.example"},
		{"no host", "https:///a"},
		{"port only", "http://:80/"},
		{"user info", "https://user@api.example/"},
		{"user and password", "https://u:p@api.example/"},
		{"bad escape", "https://api.example/%zz"},
		{"truncated escape", "https://api.example/a%2"},
		{"port zero", "https://api.example:0/"},
		{"port too big", "https://api.example:65536/"},
		{"non-ASCII host", "https://ａpi.example/"},
		{"IPv6 zone", "https://[fe80::1%25en0]/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := NormalizeHTU(tt.in); err == nil {
				t.Fatalf("NormalizeHTU(%q) = %q, want an error", tt.in, got)
			}
		})
	}
}
