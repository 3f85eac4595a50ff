package bench

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/token"
)

// BaselineHandler is the bare token server the minting numbers are compared
// with: it signs a JWT of the same shape as ajwt's legacy tokens with
// go-jose ES256 and stores nothing, authenticates nobody.
func BaselineHandler() (http.Handler, error) {
	key, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		return nil, err
	}
	iss, err := token.NewIssuer("http://baseline.example", key)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		now := time.Now()
		var id [16]byte
		_, _ = rand.Read(id[:])
		raw, err := iss.Mint(&token.Claims{Subject: "app", Audience: token.Audience{"http://baseline.example"}, ClientID: "app",
			IssuedAt: now.Unix(), ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: base64.RawURLEncoding.EncodeToString(id[:]), Scope: "api:read"})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": raw, "token_type": "Bearer", "expires_in": 300})
	})
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusMethodNotAllowed) })
	return mux, nil
}
