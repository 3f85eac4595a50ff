package yamlerr

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type route struct {
	Scopes  []string `yaml:"scopes"`
	OneTime bool     `yaml:"one_time"`
	Max     int      `yaml:"max"`
}

type file struct {
	Issuer string  `yaml:"issuer"`
	Routes []route `yaml:"routes"`
}

func TestDescribe(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"issuer: [a]\n", `line 1: issuer: want a string, got a list`},
		{"routes: {a: 1}\n", `line 1: routes: want a list, got a mapping`},
		{"routes:\n  - one_time: maybe\n", `line 2: one_time: want true or false, got the text "maybe"`},
		{"routes:\n  - scope: [a]\n", `line 2: unknown field "scope"`},
		{"routes:\n  - max: lots\n", `line 2: max: want a whole number, got the text "lots"`},
		{"routes:\n  - scopes: a\n", `line 2: scopes: want a list, got the text "a"`},
	}
	for _, tt := range tests {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(tt.yaml), &root); err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(strings.NewReader(tt.yaml))
		dec.KnownFields(true)
		var f file
		err := dec.Decode(&f)
		if got := Describe(err, &root); got != tt.want {
			t.Errorf("%q: %s\nwant %s", tt.yaml, got, tt.want)
		}
		if strings.Contains(Describe(err, nil), "yamlerr.") {
			t.Errorf("%q: a Go type in %s", tt.yaml, Describe(err, nil))
		}
	}
}
