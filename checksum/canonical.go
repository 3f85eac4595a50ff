package checksum

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/internal/jcs"
	"github.com/ajwt/ajwt/protocol"
)

// Checksum is an agent checksum: "sha256:" + 64 lowercase hex digits.
type Checksum string

const prefix = "sha256:"

// Canonical validates s and returns the RFC 8785 bytes of its §2.2
// canonical form: the exact input of the checksum.
func Canonical(s *Spec) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return jcs.Marshal(canonicalObject(s))
}

func canonicalObject(s *Spec) map[string]any {
	obj := map[string]any{
		"agent_id":        s.AgentID,
		"prompt_template": NormalizePrompt(s.PromptTemplate),
		"tools":           canonicalTools(s.Tools),
	}
	if len(s.Substitutions) > 0 {
		subs := make(map[string]any, len(s.Substitutions))
		for name, sub := range s.Substitutions {
			subs[name] = map[string]any{"pattern": sub.Pattern, "max_length": sub.MaxLength}
		}
		obj["substitutions"] = subs
	}
	if len(s.Configuration) > 0 {
		obj["configuration"] = s.Configuration
	}
	return obj
}

func canonicalTools(tools []Tool) []any {
	sorted := slices.Clone(tools)
	slices.SortFunc(sorted, func(a, b Tool) int { return strings.Compare(a.Name, b.Name) })
	out := make([]any, len(sorted))
	for i, t := range sorted {
		params := t.Parameters
		if params == nil {
			params = map[string]any{}
		}
		m := map[string]any{"name": t.Name, "description": t.Description, "parameters": params}
		if t.SourceSHA256 != "" {
			m["source_sha256"] = t.SourceSHA256
		}
		out[i] = m
	}
	return out
}

// Sum returns the agent checksum of s (§2.4).
func Sum(s *Spec) (Checksum, error) {
	canon, err := Canonical(s)
	if err != nil {
		return "", err
	}
	return SumCanonical(canon), nil
}

// SumCanonical hashes canonical bytes.
func SumCanonical(canon []byte) Checksum {
	h := sha256.Sum256(canon)
	return Checksum(prefix + hex.EncodeToString(h[:]))
}

var errChecksumForm = errors.New("want sha256:<64 lowercase hex> or 64 lowercase hex")

// ParseChecksum accepts the prefixed form and the bare 64-hex form (§2.4)
// and returns the prefixed form. Uppercase hex is refused: the contract
// fixes lowercase, and one spelling per value keeps comparisons simple.
func ParseChecksum(s string) (Checksum, error) {
	hexPart := strings.TrimPrefix(s, prefix)
	if !isLowerHex64(hexPart) {
		return "", protocol.ErrInvalidRequest.WithDescription("agent_checksum: %s", errChecksumForm)
	}
	return Checksum(prefix + hexPart), nil
}

// Equal compares two checksums in constant time.
func (c Checksum) Equal(o Checksum) bool {
	return subtle.ConstantTimeCompare([]byte(c), []byte(o)) == 1
}

// String returns the checksum text.
func (c Checksum) String() string { return string(c) }
