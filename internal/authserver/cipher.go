package authserver

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// sealedPrefix marks data encrypted with the key-encryption key.
const sealedPrefix = "ajwt-kek-v1:"

// AESGCM is a KeyCipher with a 256-bit key-encryption key (KEK): AES-256-GCM
// with a random 96-bit nonce per value. The KEK lives outside the database
// (file or environment), so a stolen database file reveals neither signing
// keys nor agent prompts.
type AESGCM struct{ aead cipher.AEAD }

// NewAESGCM takes a 32-byte key.
func NewAESGCM(kek []byte) (*AESGCM, error) {
	if len(kek) != 32 {
		return nil, fmt.Errorf("authserver: key-encryption key must be 32 bytes, got %d", len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &AESGCM{aead: aead}, nil
}

// Seal encrypts plaintext into "ajwt-kek-v1:" + base64(nonce || ciphertext).
func (c *AESGCM) Seal(plaintext []byte) ([]byte, error) {
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	sealed := c.aead.Seal(nonce, nonce, plaintext, []byte(sealedPrefix))
	return []byte(sealedPrefix + base64.RawStdEncoding.EncodeToString(sealed)), nil
}

// Open decrypts what Seal produced.
func (c *AESGCM) Open(data []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(sealedPrefix))
	if !ok {
		return nil, errors.New("authserver: value is not sealed with the key-encryption key")
	}
	raw, err := base64.RawStdEncoding.DecodeString(string(rest))
	if err != nil || len(raw) < c.aead.NonceSize() {
		return nil, errors.New("authserver: malformed sealed value")
	}
	n := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, raw[:n], raw[n:], []byte(sealedPrefix))
	if err != nil {
		return nil, errors.New("authserver: sealed value does not open: wrong key-encryption key or tampered data")
	}
	return plain, nil
}

func isSealed(data []byte) bool { return bytes.HasPrefix(data, []byte(sealedPrefix)) }

// sealSpec stores an agent spec encrypted (as a JSON string) when a KEK is
// configured.
func (s *Server) sealSpec(spec []byte) (json.RawMessage, error) {
	if s.cipher == nil {
		return spec, nil
	}
	sealed, err := s.cipher.Seal(spec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(string(sealed))
}

func (s *Server) openSpec(stored json.RawMessage) (json.RawMessage, error) {
	var str string
	if json.Unmarshal(stored, &str) != nil || !isSealed([]byte(str)) {
		return stored, nil // stored in clear (no KEK when registered)
	}
	if s.cipher == nil {
		return nil, errors.New("authserver: agent spec is sealed but no key-encryption key is configured")
	}
	return s.cipher.Open([]byte(str))
}
