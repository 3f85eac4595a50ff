package keys

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// DeriveSalt is the HKDF salt of §3.
const DeriveSalt = "ajwt agent key v1"

// MinMasterSecret is the shortest master secret accepted (§3).
const MinMasterSecret = 32

var (
	agentIDRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	checksumRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// DeriveAgentKey derives an agent's Ed25519 key (§3): seed =
// HKDF-SHA256(ikm = master, salt = "ajwt agent key v1", info = agentID ||
// 0x00 || agentChecksum), 32 bytes. agentChecksum is the prefixed form
// "sha256:<hex>" exactly as it appears on the wire, so a changed agent gets
// a different key.
func DeriveAgentKey(master []byte, agentID, agentChecksum string) (ed25519.PrivateKey, error) {
	if len(master) < MinMasterSecret {
		return nil, fmt.Errorf("keys: master secret has %d bytes, want at least %d", len(master), MinMasterSecret)
	}
	if !agentIDRE.MatchString(agentID) {
		return nil, fmt.Errorf("keys: agent id %q is not valid", agentID)
	}
	if !checksumRE.MatchString(agentChecksum) {
		return nil, errors.New("keys: agent checksum must be sha256:<64 lowercase hex>")
	}
	info := agentID + "\x00" + agentChecksum
	seed, err := hkdf.Key(sha256.New, master, []byte(DeriveSalt), info, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("keys: hkdf: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParseMasterSecret reads a master secret from file or environment text:
// 64 or more hex digits are decoded; anything else is taken as raw bytes.
// Either way at least 32 bytes are required.
func ParseMasterSecret(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	if len(s) >= 2*MinMasterSecret && len(s)%2 == 0 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	if len(s) < MinMasterSecret {
		return nil, fmt.Errorf("keys: master secret too short: want at least %d bytes (or %d hex digits)", MinMasterSecret, 2*MinMasterSecret)
	}
	return []byte(s), nil
}

// LoadMasterSecretFile reads a master secret file (see ParseMasterSecret).
func LoadMasterSecretFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	secret, err := ParseMasterSecret(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return secret, nil
}
