package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"maps"
	"math/big"

	"github.com/go-jose/go-jose/v4"
)

// Signer is a private key that ajwt signs with: any crypto.Signer (in
// memory, KMS or HSM) together with the algorithm it is used for and a key
// ID. It never exposes or prints private material.
type Signer struct {
	alg    Alg
	kid    string
	key    crypto.Signer
	public jose.JSONWebKey
}

// NewSigner checks that key fits alg (Ed25519 for EdDSA, P-256 for ES256,
// RSA ≥ 2048 bits for RS256). An empty kid becomes the key's RFC 7638
// thumbprint.
func NewSigner(key crypto.Signer, alg Alg, kid string) (*Signer, error) {
	if key == nil {
		return nil, errors.New("keys: nil signer")
	}
	if err := checkKeyAlg(key.Public(), alg); err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: key.Public(), Algorithm: string(alg), Use: "sig"}
	if kid == "" {
		tp, err := Thumbprint(&pub)
		if err != nil {
			return nil, err
		}
		kid = tp
	}
	pub.KeyID = kid
	return &Signer{alg: alg, kid: kid, key: key, public: pub}, nil
}

func checkKeyAlg(pub crypto.PublicKey, alg Alg) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if alg == EdDSA {
			return nil
		}
	case *ecdsa.PublicKey:
		if alg == ES256 && k.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if alg == RS256 && k.N.BitLen() >= 2048 && k.N.BitLen() <= 4096 {
			return nil
		}
	}
	return fmt.Errorf("keys: a %T key cannot sign %s", pub, alg)
}

// Alg is the algorithm this key signs with.
func (s *Signer) Alg() Alg { return s.alg }

// KeyID is the kid header value.
func (s *Signer) KeyID() string { return s.kid }

// Public returns the public JWK (with kid, alg and use), safe to publish.
func (s *Signer) Public() jose.JSONWebKey { return s.public }

// Thumbprint is the RFC 7638 thumbprint of the public key.
func (s *Signer) Thumbprint() string {
	tp, _ := Thumbprint(&s.public) // cannot fail: NewSigner computed one already
	return tp
}

// CryptoSigner returns the underlying key, for storage by its owner.
func (s *Signer) CryptoSigner() crypto.Signer { return s.key }

// String never reveals private material.
func (s *Signer) String() string { return fmt.Sprintf("keys.Signer(%s, kid=%s)", s.alg, s.kid) }

// GoString keeps %#v from printing private material.
func (s *Signer) GoString() string { return s.String() }

// JOSE returns a go-jose signer that sets kid and, when typ is not empty, typ
// in the protected header. opts may add headers (e.g. an embedded JWK).
func (s *Signer) JOSE(typ string, opts *jose.SignerOptions) (jose.Signer, error) {
	opts = cloneOptions(opts)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	key := jose.SigningKey{Algorithm: jose.SignatureAlgorithm(s.alg), Key: s.joseKey()}
	if !opts.EmbedJWK {
		opts = opts.WithHeader(jose.HeaderKey("kid"), s.kid)
	}
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		return nil, fmt.Errorf("keys: signer: %w", err)
	}
	return signer, nil
}

// cloneOptions copies opts, since go-jose's With* methods write into the
// caller's header map.
func cloneOptions(opts *jose.SignerOptions) *jose.SignerOptions {
	if opts == nil {
		return &jose.SignerOptions{}
	}
	c := *opts
	c.ExtraHeaders = maps.Clone(opts.ExtraHeaders)
	return &c
}

// joseKey hands go-jose the concrete key types it handles natively and wraps
// anything else (KMS, HSM) as an OpaqueSigner.
func (s *Signer) joseKey() any {
	switch k := s.key.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
		return k
	}
	return opaque{s}
}

type opaque struct{ s *Signer }

func (o opaque) Public() *jose.JSONWebKey { p := o.s.public; return &p }

func (o opaque) Algs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.SignatureAlgorithm(o.s.alg)}
}

func (o opaque) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if Alg(alg) != o.s.alg {
		return nil, fmt.Errorf("keys: key signs %s, not %s", o.s.alg, alg)
	}
	switch o.s.alg {
	case EdDSA:
		return o.s.key.Sign(rand.Reader, payload, crypto.Hash(0))
	case ES256:
		return signES256(o.s.key, payload)
	default:
		digest := sha256.Sum256(payload)
		return o.s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	}
}

// signES256 converts a crypto.Signer's ASN.1 ECDSA signature to the fixed
// 64-byte r||s form JWS requires (RFC 7518 §3.4).
func signES256(key crypto.Signer, payload []byte) ([]byte, error) {
	digest := sha256.Sum256(payload)
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, err
	}
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil {
		return nil, fmt.Errorf("keys: ecdsa signature: %w", err)
	}
	// An opaque signer (KMS, HSM) is outside our control: a value that does
	// not fit 32 bytes would make FillBytes panic.
	if len(rest) != 0 || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > 256 || sig.S.BitLen() > 256 {
		return nil, errors.New("keys: ecdsa signature out of range for P-256")
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}
