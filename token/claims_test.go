package token

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"
)

func TestAudienceJSON(t *testing.T) {
	tests := []struct {
		name, in, out string
		want          Audience
	}{
		{"string", `"https://a"`, `"https://a"`, Audience{"https://a"}},
		{"array of one is written as a string", `["https://a"]`, `"https://a"`, Audience{"https://a"}},
		{"array of two", `["https://a","https://b"]`, `["https://a","https://b"]`, Audience{"https://a", "https://b"}},
		{"null stays empty", `null`, `[]`, Audience(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Audience
			if err := json.Unmarshal([]byte(tt.in), &a); err != nil || !reflect.DeepEqual(a, tt.want) {
				t.Fatalf("got %#v, %v", a, err)
			}
			if tt.want == nil {
				return
			}
			if out, _ := json.Marshal(a); string(out) != tt.out {
				t.Fatalf("marshal %s, want %s", out, tt.out)
			}
		})
	}
	for _, bad := range []string{`1`, `[1]`, `{"a":1}`, `["a",null,1]`} {
		var a Audience
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("aud %s accepted", bad)
		}
	}
}

func TestScopes(t *testing.T) {
	c := &Claims{Scope: " repo:read  repo:write "}
	if got := c.Scopes(); !reflect.DeepEqual(got, []string{"repo:read", "repo:write"}) {
		t.Fatalf("scopes %q", got)
	}
	for s, want := range map[string]bool{"repo:read": true, "repo:write": true, "repo": false, "": false, "repo:read repo:write": false} {
		if c.HasScope(s) != want {
			t.Errorf("HasScope(%q) = %v", s, !want)
		}
	}
	if (&Claims{}).HasScope("") {
		t.Error("empty scope claim has the empty scope")
	}
}

func TestIsIntent(t *testing.T) {
	if !intentClaims().IsIntent() || legacyClaims().IsIntent() {
		t.Fatal("IsIntent misclassifies the fixtures")
	}
	if mutate(intentClaims(), func(c *Claims) { c.AgentProof = nil }).IsIntent() {
		t.Fatal("token without agent_proof is an intent token")
	}
}

// TestHashes compares with digests computed by `printf %s ... | sha256sum`.
func TestHashes(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"chain", ChainHash([]string{"supervisor", "patcher"}), "2b7e5644cd6efcde2a1e58608315d6ab7ea3ac17e0d971896e4756a36c85fea1"},
		{"steps", StepSequenceHash([]string{"plan", "approve"}, "patch"), "5ed35738b7dfab41bb2c773a06cba13e632a81564c10c3a3b20631d7cc241950"},
		{"first step", StepSequenceHash(nil, "plan"), sha256hex("plan")},
		{"no run", StepSequenceHash(nil, ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		if tt.got != "sha256:"+tt.want {
			t.Errorf("%s: %s, want sha256:%s", tt.name, tt.got, tt.want)
		}
	}
	completed := []string{"a", "b"}
	_ = StepSequenceHash(completed[:1], "c")
	if completed[1] != "b" {
		t.Fatal("StepSequenceHash wrote into the caller's slice")
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
