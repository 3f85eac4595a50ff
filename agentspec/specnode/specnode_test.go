package specnode

import (
	"strings"
	"testing"
)

func TestParseJSONPositions(t *testing.T) {
	n, err := ParseJSON([]byte("{\n  \"a\": 1,\n  \"é\": [true,\n    \"x\"]}"), 32)
	if err != nil {
		t.Fatal(err)
	}
	a, e := n.Members[0], n.Members[1]
	checks := []struct {
		name            string
		line, col       int
		wantLine, wantC int
	}{
		{"root", n.Line, n.Col, 1, 1},
		{"member a", a.Line, a.Col, 2, 3},
		{"value of a", a.Val.Line, a.Val.Col, 2, 8},
		{"member é", e.Line, e.Col, 3, 3},
		{"array", e.Val.Line, e.Val.Col, 3, 8},
		{"second item", e.Val.Items[1].Line, e.Val.Items[1].Col, 4, 5},
	}
	for _, c := range checks {
		if c.line != c.wantLine || c.col != c.wantC {
			t.Errorf("%s at %d:%d, want %d:%d", c.name, c.line, c.col, c.wantLine, c.wantC)
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := []struct {
		name, in, msg string
		line          int
	}{
		{"duplicate", "{\"a\":1,\n\"a\":2}", "duplicate member", 2},
		{"trailing", "{} {}", "data after", 1},
		{"syntax", "{\n\"a\" 1}", "JSON syntax", 2},
		{"truncated", "{\"a\":", "unexpected end", 1},
		{"too deep", strings.Repeat("[", 4) + strings.Repeat("]", 4), "nesting", 1},
		{"invalid utf-8", "[\n\"a\xffb\"]", "not valid UTF-8", 2},
		{"invalid utf-8 key", "{\"\xc3\":1}", "not valid UTF-8", 1},
		{"lone high surrogate", `["\ud800"]`, "unpaired surrogate", 1},
		{"lone low surrogate", `["\udc00x"]`, "unpaired surrogate", 1},
		{"high then non-low", `["\ud800\u0041"]`, "unpaired surrogate", 1},
		{"high at end", `["x\ud83d"]`, "unpaired surrogate", 1},
		{"reversed pair", `["\ude00\ud83d"]`, "unpaired surrogate", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tt.in), 3)
			e, ok := err.(*Error)
			if !ok || !strings.Contains(e.Msg, tt.msg) || e.Line != tt.line {
				t.Fatalf("err = %v, want %q at line %d", err, tt.msg, tt.line)
			}
		})
	}
}

func TestParseJSONStringsKept(t *testing.T) {
	n, err := ParseJSON([]byte(`["\ud83d\ude00", "\\ud800", "\u00e9\n", "é"]`), 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"😀", `\ud800`, "é\n", "é"}
	for i, w := range want {
		if got := n.Items[i].Value; got != w {
			t.Errorf("item %d = %q, want %q", i, got, w)
		}
	}
}

func FuzzParseJSON(f *testing.F) {
	f.Add([]byte(`{"a":["\ud83d\ude00",1.5,null,true]}`))
	f.Add([]byte(`"\ud800\udc00\\u"`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseJSON(data, 8)
		if err != nil {
			return
		}
		if n.Line < 1 || n.Col < 1 {
			t.Fatalf("position %d:%d", n.Line, n.Col)
		}
		_ = n.Plain()
	})
}
