package protocol

import (
	"errors"
	"net/http"
	"testing"
)

func TestAccessToken(t *testing.T) {
	tests := []struct {
		values        []string
		scheme, token string // "" for a refusal
	}{
		{[]string{"DPoP abc.def.ghi"}, SchemeDPoP, "abc.def.ghi"},
		{[]string{"dpop abc"}, SchemeDPoP, "abc"},
		{[]string{"Bearer abc"}, SchemeBearer, "abc"},
		{[]string{"BEARER abc"}, SchemeBearer, "abc"},
		{nil, "", ""},
		{[]string{"DPoP abc", "Bearer def"}, "", ""}, // two headers: neither is picked
		{[]string{"Basic dXNlcjpwYXNz"}, "", ""},
		{[]string{"DPoP"}, "", ""},
		{[]string{"DPoP "}, "", ""},
		{[]string{"DPoP a b"}, "", ""},
		{[]string{"DPoP  abc"}, "", ""},
		{[]string{"abc"}, "", ""},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, v := range tt.values {
			h.Add("Authorization", v)
		}
		scheme, token, err := AccessToken(h)
		if tt.scheme == "" {
			if !errors.Is(err, ErrMalformedToken) {
				t.Errorf("%q: err = %v, want malformed", tt.values, err)
			}
			continue
		}
		if err != nil || scheme != tt.scheme || token != tt.token {
			t.Errorf("%q: %q %q %v", tt.values, scheme, token, err)
		}
	}
}
