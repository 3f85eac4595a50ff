package dpop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// proofVector is testdata/vectors/dpop.json: one proof by a fixed Ed25519
// key, reproducible byte for byte because Ed25519 signatures are
// deterministic.
type proofVector struct {
	About       string         `json:"about"`
	SeedHex     string         `json:"seed_hex"`
	Method      string         `json:"method"`
	URI         string         `json:"uri"`
	HTU         string         `json:"htu"`
	AccessToken string         `json:"access_token"`
	JTI         string         `json:"jti"`
	Now         int64          `json:"now"`
	JKT         string         `json:"jkt"`
	Header      map[string]any `json:"header"`
	Claims      map[string]any `json:"claims"`
	Proof       string         `json:"proof"`
}

func TestProofVector(t *testing.T) {
	var v proofVector
	readVector(t, "dpop.json", &v)
	seed, err := hex.DecodeString(v.SeedHex)
	if err != nil || len(seed) != 32 || !bytes.Equal(seed, bytes.Repeat(seed[:1], 32)) {
		t.Fatalf("seed_hex: want 32 equal bytes, got %q", v.SeedHex)
	}
	key := seedKey(t, seed[0])
	now := time.Unix(v.Now, 0)
	got, err := NewProof(key, v.Method, v.URI, ProofOptions{AccessToken: v.AccessToken, Now: now, JTI: v.JTI})
	if err != nil || got != v.Proof {
		t.Fatalf("NewProof gave\n%s (%v)\nwant\n%s", got, err, v.Proof)
	}
	header, claims := segments(t, v.Proof)
	if !jsonEqual(t, header, v.Header) || !jsonEqual(t, claims, v.Claims) || key.Thumbprint() != v.JKT {
		t.Fatalf("vector header/claims/jkt disagree with its proof:\n%v\n%v\n%s", header, claims, key.Thumbprint())
	}
	p, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: v.Proof, Method: v.Method, URL: v.URI, AccessToken: v.AccessToken, JKT: v.JKT})
	if err != nil || p.HTU != v.HTU || p.JTI != v.JTI {
		t.Fatalf("verify: %+v %v", p, err)
	}
}

// checkVectors is testdata/vectors/dpop-checks.json: the cases of
// TestVerifyRefuses and TestVerifyAccepts as data, for other
// implementations. Each case runs against a fresh replay cache, verified
// Times times (default once); the last result must be Want.
type checkVectors struct {
	About     string        `json:"about"`
	Now       int64         `json:"now"`
	WindowSec int           `json:"iat_window_seconds"`
	Algs      []string      `json:"algs"`
	Cases     []checkVector `json:"cases"`
}

type checkVector struct {
	Name        string     `json:"name"`
	Proof       string     `json:"proof"`
	Method      string     `json:"method"`
	URL         string     `json:"url"`
	AccessToken string     `json:"access_token,omitempty"`
	JKT         string     `json:"jkt,omitempty"`
	Times       int        `json:"times,omitempty"`
	Want        *wantError `json:"want"`
}

type wantError struct {
	Error  string `json:"error"`
	Reason string `json:"reason"`
}

// TestCheckVectors runs every case of the file and checks that the file
// still holds exactly the Go tables; AJWT_UPDATE_VECTORS=1 rewrites it.
func TestCheckVectors(t *testing.T) {
	built := buildCheckVectors(t)
	if os.Getenv("AJWT_UPDATE_VECTORS") == "1" {
		writeVector(t, "dpop-checks.json", built)
	}
	var file checkVectors
	readVector(t, "dpop-checks.json", &file)
	if !jsonEqual(t, file, built) {
		t.Fatal("dpop-checks.json differs from the Go tables: rerun with AJWT_UPDATE_VECTORS=1")
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) { runCheckVector(t, file, c) })
	}
}

func runCheckVector(t *testing.T, file checkVectors, c checkVector) {
	now := time.Unix(file.Now, 0)
	v := newVerifier(t, &now, WithIATWindow(time.Duration(file.WindowSec)*time.Second))
	r := Request{Proof: c.Proof, Method: c.Method, URL: c.URL, AccessToken: c.AccessToken, JKT: c.JKT,
		NoAccessToken: c.AccessToken == "", AnyKey: c.JKT == ""} // the vectors omit what is not bound
	var err error
	for i := range max(c.Times, 1) {
		if i > 0 && err != nil {
			t.Fatalf("attempt %d failed before the last: %v", i, err)
		}
		_, err = v.Verify(t.Context(), r)
	}
	var pe *protocol.Error
	switch {
	case c.Want == nil && err != nil:
		t.Fatalf("refused: %v", err)
	case c.Want != nil && (!errors.As(err, &pe) || pe.Code != c.Want.Error || pe.Reason != c.Want.Reason):
		t.Fatalf("err = %v, want %s (%s)", err, c.Want.Error, c.Want.Reason)
	}
}

// buildCheckVectors turns the Go tables into vectors. Only deterministic
// proofs qualify: Ed25519 keys from fixed seeds, HMAC, hand-made strings
// (the RSA case uses a fresh random key and stays in Go).
func buildCheckVectors(t *testing.T) checkVectors {
	key, other := seedKey(t, 7), seedKey(t, 8)
	out := checkVectors{
		About: "DPoP proof checks (RFC 9449 §4.3 as profiled by PROTOCOL.md §3): each case is one request " +
			"to verify at unix time now with a fresh replay cache, times times (default 1); want is the " +
			"error and reason of the last attempt, null when the proof must be accepted. Proofs are signed " +
			"by Ed25519 keys with seeds of 32 bytes 0x07 (the bound key) and 0x08 (another key).",
		Now: t0.Unix(), WindowSec: int(protocol.DefaultIATSkew / time.Second), Algs: []string{"ES256", "Ed25519", "EdDSA", "RS256"},
	}
	replay := verifyCase{"replayed", mutate(t, key, nil, nil), nil, protocol.ErrReplayedProof}
	cases := append(append(refusalCases(t, key, other), replay), acceptCases(t, key)...)
	for _, c := range cases {
		if strings.HasPrefix(c.name, "RSA") {
			continue
		}
		r := Request{Proof: c.proof, Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}
		if c.req != nil {
			c.req(&r)
		}
		v := checkVector{Name: c.name, Proof: r.Proof, Method: r.Method, URL: r.URL, AccessToken: r.AccessToken, JKT: r.JKT}
		if c.name == replay.name {
			v.Times = 2
		}
		if c.want != nil {
			v.Want = &wantError{Error: c.want.Code, Reason: c.want.Reason}
		}
		out.Cases = append(out.Cases, v)
	}
	return out
}

func readVector(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("../testdata/vectors/" + name)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func writeVector(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../testdata/vectors/"+name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// jsonEqual compares two values by their JSON form.
func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	return bytes.Equal(mustJSON(t, a), mustJSON(t, b))
}
