package keys

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

type deriveVector struct {
	MasterHex     string `json:"master_hex"`
	AgentID       string `json:"agent_id"`
	AgentChecksum string `json:"agent_checksum"`
	SeedHex       string `json:"seed_hex"`
	X             string `json:"x"`
	JKT           string `json:"jkt"`
	Independent   bool   `json:"independent"`
}

func loadJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestDeriveAgentKeyVectors(t *testing.T) {
	var doc struct{ Vectors []deriveVector }
	loadJSON(t, "../testdata/vectors/keys-derive.json", &doc)
	independent := 0
	for _, v := range doc.Vectors {
		if v.Independent {
			independent++
		}
		t.Run(v.AgentID, func(t *testing.T) {
			master, err := hex.DecodeString(v.MasterHex)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := DeriveAgentKey(master, v.AgentID, v.AgentChecksum)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(priv.Seed()); got != v.SeedHex {
				t.Fatalf("seed %s, want %s", got, v.SeedHex)
			}
			s, err := NewSigner(priv, EdDSA, "")
			if err != nil {
				t.Fatal(err)
			}
			if s.Thumbprint() != v.JKT {
				t.Fatalf("jkt %s, want %s", s.Thumbprint(), v.JKT)
			}
			pub, _ := json.Marshal(s.Public())
			if !strings.Contains(string(pub), `"x":"`+v.X+`"`) {
				t.Fatalf("public JWK %s lacks x %s", pub, v.X)
			}
		})
	}
	if independent == 0 {
		t.Fatal("no vector computed independently of this code")
	}
}

func TestDeriveAgentKeyRefuses(t *testing.T) {
	good := strings.Repeat("k", MinMasterSecret)
	sum := "sha256:" + strings.Repeat("0", 64)
	tests := []struct{ name, master, agentID, checksum string }{
		{"master of 31 bytes", good[1:], "a", sum},
		{"empty master", "", "a", sum},
		{"uppercase agent id", good, "A", sum},
		{"agent id starting with a hyphen", good, "-a", sum},
		{"agent id of 64 characters", good, strings.Repeat("a", 64), sum},
		{"agent id with NUL (would shift info)", good, "a\x00b", sum},
		{"agent id with a newline", good, "a\n", sum},
		{"bare checksum without prefix", good, "a", strings.Repeat("0", 64)},
		{"uppercase checksum", good, "a", "sha256:" + strings.Repeat("A", 64)},
		{"short checksum", good, "a", "sha256:" + strings.Repeat("0", 63)},
		{"checksum with trailing newline", good, "a", sum + "\n"},
		{"empty checksum", good, "a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := DeriveAgentKey([]byte(tt.master), tt.agentID, tt.checksum); err == nil || k != nil {
				t.Fatalf("accepted (key %v, err %v)", k != nil, err)
			}
		})
	}
}

func TestDeriveAgentKeySeparatesInputs(t *testing.T) {
	master := []byte(strings.Repeat("k", MinMasterSecret))
	sum0 := "sha256:" + strings.Repeat("0", 64)
	sum1 := "sha256:" + strings.Repeat("1", 64)
	base := mustDerive(t, master, "a", sum0)
	others := map[string]ed25519.PrivateKey{
		"other agent":    mustDerive(t, master, "b", sum0),
		"other checksum": mustDerive(t, master, "a", sum1),
		"other master":   mustDerive(t, append([]byte("x"), master...), "a", sum0),
	}
	for name, k := range others {
		if base.Equal(k) {
			t.Errorf("%s derived the same key", name)
		}
	}
	if again := mustDerive(t, master, "a", sum0); !again.Equal(base) {
		t.Error("derivation is not deterministic")
	}
}

func mustDerive(t *testing.T, master []byte, id, sum string) ed25519.PrivateKey {
	t.Helper()
	k, err := DeriveAgentKey(master, id, sum)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseMasterSecret(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantLen int // 0: refused
		first   byte
	}{
		{"64 hex digits with newline", strings.Repeat("ab", 32) + "\n", 32, 0xab},
		{"raw text of 40 bytes", strings.Repeat("z", 40), 40, 'z'},
		{"odd-length hex is raw text", strings.Repeat("a", 65), 65, 'a'},
		{"too short", "too short", 0, 0},
		{"31 bytes", strings.Repeat("z", 31), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseMasterSecret([]byte(tt.in))
			if tt.wantLen == 0 {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil || len(b) != tt.wantLen || b[0] != tt.first {
				t.Fatalf("got %d bytes, err %v", len(b), err)
			}
		})
	}
}

func TestLoadMasterSecretFileNamesTheFile(t *testing.T) {
	path := t.TempDir() + "/master.key"
	if err := os.WriteFile(path, []byte("short-secret-value"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadMasterSecretFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "short-secret-value") {
		t.Fatalf("error %v: want the path and not the secret", err)
	}
}
