package agentspec

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ajwt/ajwt/internal/jcs"
	"github.com/ajwt/ajwt/protocol"
)

// Checksum is an agent checksum (§2.4). Once produced by this package it
// is always "sha256:" followed by 64 lowercase hex digits.
type Checksum string

const prefix = "sha256:"

// Canonical validates s and returns the RFC 8785 bytes of its §2.2
// canonical form, the exact input of the checksum:
//
//	{"agent_id", "configuration"?, "prompt_template", "substitutions"?, "tools"}
//
// with the template normalized (§2.3), tools sorted by name in UTF-8 byte
// order with description "" and parameters {} by default, source_sha256
// only when given, and substitutions and configuration left out when
// empty.
func Canonical(s *Spec) ([]byte, error) {
	tmpl, err := s.validateStructure()
	if err != nil {
		return nil, err
	}
	b, err := appendCanonical(make([]byte, 0, sizeHint(s, tmpl)), s, tmpl)
	if err != nil {
		// A value without a canonical form: find and name it.
		if verr := s.validateValues(); verr != nil {
			return nil, verr
		}
		return nil, fmt.Errorf("checksum: %w", err) // the two checks disagree: a bug
	}
	return b, nil
}

// appendCanonical writes the members in RFC 8785 order directly: the top
// level has fixed ASCII names, so only user maps need sorting.
func appendCanonical(b []byte, s *Spec, tmpl string) ([]byte, error) {
	var err error
	b = append(b, `{"agent_id":`...)
	b, _ = jcs.AppendString(b, s.AgentID) // validated: ASCII
	if len(s.Configuration) > 0 {
		b = append(b, `,"configuration":`...)
		if b, err = jcs.AppendIJSON(b, s.Configuration, maxDepth-configurationDepth+1); err != nil {
			return nil, err
		}
	}
	b = append(b, `,"prompt_template":`...)
	if b, err = jcs.AppendString(b, tmpl); err != nil {
		return nil, err
	}
	if len(s.Substitutions) > 0 {
		if b, err = appendSubstitutions(append(b, `,"substitutions":`...), s.Substitutions); err != nil {
			return nil, err
		}
	}
	if b, err = appendTools(append(b, `,"tools":`...), s.Tools); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

func appendSubstitutions(b []byte, subs map[string]Substitution) ([]byte, error) {
	b = append(b, '{')
	for i, name := range jcs.SortedKeys(subs) {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = jcs.AppendString(b, name); err != nil {
			return nil, err
		}
		b = append(b, `:{"max_length":`...)
		b = strconv.AppendInt(b, int64(subs[name].MaxLength), 10) // 1…2^20: ECMAScript form is the decimal
		b = append(b, `,"pattern":`...)
		if b, err = jcs.AppendString(b, subs[name].Pattern); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

// appendTools writes the tools sorted by name in UTF-8 byte order (§2.2:
// not the UTF-16 order of member names).
func appendTools(b []byte, tools []Tool) ([]byte, error) {
	order := make([]int, len(tools))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return strings.Compare(tools[i].Name, tools[j].Name) })
	b = append(b, '[')
	for n, i := range order {
		if n > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendTool(b, &tools[i]); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendTool(b []byte, t *Tool) ([]byte, error) {
	var err error
	if b, err = jcs.AppendString(append(b, `{"description":`...), t.Description); err != nil {
		return nil, err
	}
	if b, err = jcs.AppendString(append(b, `,"name":`...), t.Name); err != nil {
		return nil, err
	}
	b = append(b, `,"parameters":`...)
	if len(t.Parameters) == 0 {
		b = append(b, '{', '}')
	} else if b, err = jcs.AppendIJSON(b, t.Parameters, maxDepth-parametersDepth+1); err != nil {
		return nil, err
	}
	if t.SourceSHA256 != "" {
		b = append(b, `,"source_sha256":"`...)
		b = append(b, t.SourceSHA256...) // validated: 64 lowercase hex
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// sizeHint guesses the canonical size so that one allocation usually
// suffices: the template dominates, each tool's schema adds a few hundred
// bytes.
func sizeHint(s *Spec, tmpl string) int {
	n := len(tmpl) + len(s.AgentID) + 128 + 64*len(s.Substitutions)
	for i := range s.Tools {
		n += len(s.Tools[i].Name) + len(s.Tools[i].Description) + 512
	}
	return n
}

// Sum returns the agent checksum of s (§2.4): "sha256:" and the lowercase
// hex SHA-256 of Canonical(s).
func Sum(s *Spec) (Checksum, error) {
	canon, err := Canonical(s)
	if err != nil {
		return "", err
	}
	return SumCanonical(canon), nil
}

// SumCanonical hashes bytes that are already the canonical form.
func SumCanonical(canon []byte) Checksum {
	h := sha256.Sum256(canon)
	return Checksum(prefix + hex.EncodeToString(h[:]))
}

// ParseChecksum accepts "sha256:<64 lowercase hex>" and the bare 64-hex
// form (§2.4) and returns the prefixed form; anything else is an
// invalid_request. Uppercase hex is refused: the contract fixes lowercase,
// and one spelling per value keeps comparisons and logs unambiguous.
func ParseChecksum(s string) (Checksum, error) {
	hexPart := strings.TrimPrefix(s, prefix)
	if !isLowerHex64(hexPart) {
		return "", protocol.ErrInvalidRequest.WithDescription("agent_checksum: want sha256:<64 lowercase hex> or 64 lowercase hex")
	}
	return Checksum(prefix + hexPart), nil
}

// Equal compares two checksums in constant time (§2.4).
func (c Checksum) Equal(o Checksum) bool {
	return subtle.ConstantTimeCompare([]byte(c), []byte(o)) == 1
}

// String returns the checksum text.
func (c Checksum) String() string { return string(c) }
