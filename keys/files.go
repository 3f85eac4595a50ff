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
	"github.com/ajwt/ajwt/internal/clip"
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
	default: // includes "ENCRYPTED PRIVATE KEY": decrypt it outside ajwt
		return nil, fmt.Errorf("keys: unsupported PEM block %q", clip.Text(block.Type, clip.Short))
	}
	if err != nil {
		return nil, errors.New("keys: malformed private key")
	}
	return asSigningKey(key)
}

// asSigningKey accepts only the private key types ajwt signs with, so a
// P-384 or X25519 key fails here with a clear message rather than later.
func asSigningKey(key any) (crypto.Signer, error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: %T is not a signing key", key)
	}
	if _, err := AlgForKey(signer.Public()); err != nil {
		return nil, err
	}
	return signer, nil
}

func parsePrivateJWK(data []byte) (crypto.Signer, error) {
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		return nil, errors.New("keys: malformed JWK")
	}
	if jwk.IsPublic() || !jwk.Valid() {
		return nil, errors.New("keys: JWK is not a private signing key")
	}
	return asSigningKey(jwk.Key)
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
