package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// maxKeyFile bounds key files and JWK documents.
const maxKeyFile = 64 << 10

// Generate makes a new key for alg (P-256, Ed25519 or RSA-2048) with its
// thumbprint as kid. A nil rnd means crypto/rand.
func Generate(alg Alg, rnd io.Reader) (*Signer, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var key crypto.Signer
	var err error
	switch alg {
	case ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rnd)
	case EdDSA:
		_, key, err = ed25519.GenerateKey(rnd)
	case RS256:
		key, err = rsa.GenerateKey(rnd, 2048)
	default:
		return nil, fmt.Errorf("keys: cannot generate %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
	}
	return NewSigner(key, alg, "")
}

// ParsePrivateKey reads a private key from PEM (PKCS#8, SEC 1 "EC PRIVATE
// KEY", PKCS#1 "RSA PRIVATE KEY") or a private JWK. Errors never include
// key material.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	if len(data) > maxKeyFile {
		return nil, errors.New("keys: key data larger than 64 KiB")
	}
	if strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		return parsePrivateJWK(data)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("keys: no PEM block or JWK found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("keys: unsupported PEM block %q", block.Type)
	}
	if err != nil {
		return nil, errors.New("keys: malformed private key")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: %T is not a signing key", key)
	}
	return signer, nil
}

func parsePrivateJWK(data []byte) (crypto.Signer, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		return nil, errors.New("keys: malformed JWK")
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || jwk.IsPublic() {
		return nil, errors.New("keys: JWK is not a private signing key")
	}
	return signer, nil
}

// LoadSignerFile reads a private key file for alg; the kid is the key's
// thumbprint.
func LoadSignerFile(path string, alg Alg) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	key, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewSigner(key, alg, "")
}

// MarshalPrivatePEM encodes a private key as PKCS#8 PEM.
func MarshalPrivatePEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePublicJWK reads a public JWK of an allowed type (EC P-256, OKP
// Ed25519, RSA ≥ 2048 bits). Private members and symmetric keys are
// refused: a registry must never hold a private key.
func ParsePublicJWK(data []byte) (*jose.JSONWebKey, error) {
	if len(data) > maxKeyFile {
		return nil, errors.New("keys: JWK larger than 64 KiB")
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.New("keys: malformed JWK")
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
		if _, ok := raw[m]; ok {
			return nil, fmt.Errorf("keys: JWK has private member %q; send the public key only", m)
		}
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		return nil, fmt.Errorf("keys: JWK: %w", err)
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, errors.New("keys: not a valid public JWK")
	}
	if _, err := AlgForKey(jwk.Key); err != nil {
		return nil, err
	}
	return &jwk, nil
}

// AlgForKey names the one algorithm ajwt uses with a public key.
func AlgForKey(pub crypto.PublicKey) (Alg, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return EdDSA, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
	case *rsa.PublicKey:
		// At most 4096 bits and e = 65537: a 48,000-bit key in an 8 KiB
		// proof would cost ~100 ms per signature check, a cheap DoS.
		if bits := k.N.BitLen(); bits >= 2048 && bits <= 4096 && k.E == 65537 {
			return RS256, nil
		}
	}
	return "", fmt.Errorf("keys: unsupported public key %T (want Ed25519, P-256 or RSA 2048–4096 bits with e = 65537)", pub)
}
