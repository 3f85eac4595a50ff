package token

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors/token*.json from testdata/keys")

const (
	validVectors   = "../testdata/vectors/token.json"
	invalidVectors = "../testdata/vectors/token-invalid.json"
)

type vectorFile struct {
	About         string        `json:"about"`
	Issuer        string        `json:"issuer"`
	Audience      string        `json:"audience"`
	Now           int64         `json:"now"`
	LeewaySeconds int64         `json:"leeway_seconds"`
	Keys          []vectorKey   `json:"keys"`
	Tokens        []vectorToken `json:"tokens"`
}

type vectorKey struct {
	File      string          `json:"file"`
	Alg       keys.Alg        `json:"alg"`
	Kid       string          `json:"kid"`
	PublicJWK jose.JSONWebKey `json:"public_jwk"`
}

type vectorToken struct {
	Name          string `json:"name"`
	Kid           string `json:"kid"`
	Deterministic bool   `json:"deterministic"`
	Claims        Claims `json:"claims"` // as verified, iss included
	Token         string `json:"token"`
}

type invalidFile struct {
	About string        `json:"about"`
	Cases []invalidCase `json:"cases"`
}

type invalidCase struct {
	Name   string `json:"name"`
	Error  string `json:"error"`
	Reason string `json:"reason"`
	Token  string `json:"token"`
}

func loadVectors(t *testing.T) (*vectorFile, map[string]*keys.Signer) {
	t.Helper()
	var vf vectorFile
	readJSON(t, validVectors, &vf)
	signers := map[string]*keys.Signer{}
	for _, k := range vf.Keys {
		s, err := keys.LoadSignerFile(filepath.Join("../testdata/keys", k.File), k.Alg)
		if err != nil {
			t.Fatal(err)
		}
		if s, err = keys.NewSigner(s.CryptoSigner(), k.Alg, k.Kid); err != nil {
			t.Fatal(err)
		}
		if a, b := s.Public(), k.PublicJWK; a.KeyID != b.KeyID || !reflect.DeepEqual(a.Key, b.Key) {
			t.Fatalf("%s: public_jwk does not match the key file", k.File)
		}
		signers[k.Kid] = s
	}
	return &vf, signers
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func vectorVerifier(t *testing.T, vf *vectorFile, now *time.Time) *Verifier {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range vf.Keys {
		set.Keys = append(set.Keys, k.PublicJWK)
	}
	ks, err := NewStaticKeys(set)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vf.Issuer, vf.Audience, ks, WithLeeway(time.Duration(vf.LeewaySeconds)*time.Second), WithClock(func() time.Time { return *now }))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTokenVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	vf, signers := loadVectors(t)
	if len(vf.Tokens) == 0 {
		t.Fatal("no token vectors")
	}
	now := time.Unix(vf.Now, 0)
	v := vectorVerifier(t, vf, &now)
	leeway := time.Duration(vf.LeewaySeconds) * time.Second
	for _, tv := range vf.Tokens {
		t.Run(tv.Name, func(t *testing.T) {
			now = time.Unix(vf.Now, 0)
			got, err := v.Verify(context.Background(), tv.Token)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tv.Claims) {
				t.Fatalf("claims\n%s\nwant\n%s", claimsJSON(got), claimsJSON(&tv.Claims))
			}
			if tv.Deterministic {
				requireRemint(t, vf, signers[tv.Kid], tv)
			}
			lifetime := time.Duration(tv.Claims.ExpiresAt-tv.Claims.IssuedAt) * time.Second
			now = time.Unix(vf.Now, 0).Add(lifetime + leeway - time.Second)
			if _, err := v.Verify(context.Background(), tv.Token); err != nil {
				t.Fatalf("at exp + leeway − 1 s: %v", err)
			}
			for _, after := range []time.Duration{lifetime + leeway, lifetime + leeway + time.Second} {
				now = time.Unix(vf.Now, 0).Add(after)
				if _, err := v.Verify(context.Background(), tv.Token); !errors.Is(err, protocol.ErrExpired) {
					t.Fatalf("at now + %s: %v, want expired", after, err)
				}
			}
		})
	}
}

// requireRemint mints the vector's claims again: Ed25519 is deterministic,
// so the token must come out byte for byte the same.
func requireRemint(t *testing.T, vf *vectorFile, key *keys.Signer, tv vectorToken) {
	t.Helper()
	iss, err := NewIssuer(vf.Issuer, key)
	if err != nil {
		t.Fatal(err)
	}
	c := tv.Claims
	if raw, err := iss.Mint(&c); err != nil || raw != tv.Token {
		t.Fatalf("minting the claims again gave\n%s (%v)\nwant\n%s", raw, err, tv.Token)
	}
}

func TestTokenInvalidVectors(t *testing.T) {
	vf, signers := loadVectors(t)
	var inv invalidFile
	readJSON(t, invalidVectors, &inv)
	if want := invalidCases(t, vf, signers); !reflect.DeepEqual(inv.Cases, want) {
		t.Fatal("token-invalid.json differs from what the generator makes; run go test ./token -run TestTokenVectors -update")
	}
	now := time.Unix(vf.Now, 0)
	v := vectorVerifier(t, vf, &now)
	for _, c := range inv.Cases {
		t.Run(c.Name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), c.Token)
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != c.Error || pe.Reason != c.Reason {
				t.Fatalf("err = %v, want %s (%s)", err, c.Error, c.Reason)
			}
		})
	}
}

func writeVectors(t *testing.T) {
	t.Helper()
	vf := vectorSkeleton(t)
	signers := map[string]*keys.Signer{}
	for i, k := range vf.Keys {
		s, err := keys.LoadSignerFile(filepath.Join("../testdata/keys", k.File), k.Alg)
		if err != nil {
			t.Fatal(err)
		}
		s, _ = keys.NewSigner(s.CryptoSigner(), k.Alg, k.Kid)
		vf.Keys[i].PublicJWK = s.Public()
		signers[k.Kid] = s
	}
	for i, tv := range vf.Tokens {
		iss, _ := NewIssuer(vf.Issuer, signers[tv.Kid])
		raw, err := iss.Mint(&tv.Claims)
		if err != nil {
			t.Fatal(err)
		}
		vf.Tokens[i].Token = raw
		vf.Tokens[i].Claims.Issuer = vf.Issuer
	}
	writeJSON(t, validVectors, vf)
	writeJSON(t, invalidVectors, invalidFile{About: invalidAbout, Cases: invalidCases(t, vf, signers)})
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// attacker is a fixed Ed25519 key that is not the issuer's.
func attacker(t testing.TB, kid string) *keys.Signer {
	s, err := keys.NewSigner(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x66}, 32)), keys.EdDSA, kid)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
