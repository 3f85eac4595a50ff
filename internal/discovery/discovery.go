// Package discovery reads what an ajwt IdP publishes — its RFC 8414
// metadata and the JSON documents it names (JWKS, revocation feed) — for
// the client shim and the enforcers alike: one fetcher, one set of limits
// and one issuer check.
package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metadata is the part of the IdP's RFC 8414 document (§9) the shim and
// the enforcers read.
type Metadata struct {
	Issuer            string `json:"issuer"`
	TokenEndpoint     string `json:"token_endpoint"`
	JWKSURI           string `json:"jwks_uri"`
	AgentRegistration string `json:"agent_registration_endpoint"`
	RunEndpoint       string `json:"run_endpoint"`
	RevocationFeed    string `json:"revocation_feed_endpoint"`
}

// MaxDocument bounds every document read from the IdP.
const MaxDocument = 1 << 20

// Fetch reads the issuer's metadata and checks that it names the same
// issuer (RFC 8414 §3.3) and the endpoints every reader needs.
func Fetch(ctx context.Context, hc *http.Client, issuer string) (*Metadata, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	var m Metadata
	if _, err := GetJSON(ctx, hc, issuer+"/.well-known/oauth-authorization-server", &m); err != nil {
		return nil, fmt.Errorf("issuer metadata: %w", err)
	}
	if m.Issuer != issuer || m.JWKSURI == "" || m.TokenEndpoint == "" {
		return nil, fmt.Errorf("issuer metadata names issuer %q (jwks_uri %q, token_endpoint %q), want %q with both", m.Issuer, m.JWKSURI, m.TokenEndpoint, issuer)
	}
	return &m, nil
}

// GetJSON GETs url into v, at most MaxDocument bytes, and returns the
// response's cache lifetime (Cache-Control max-age; 0 when absent or
// no-store).
func GetJSON(ctx context.Context, hc *http.Client, url string, v any) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, MaxDocument))
	if err != nil {
		return 0, err
	}
	return maxAge(res.Header.Get("Cache-Control")), json.Unmarshal(data, v)
}

func maxAge(cc string) time.Duration {
	for _, part := range strings.Split(cc, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		if part == "no-store" || part == "no-cache" {
			return 0
		}
		if v, ok := strings.CutPrefix(part, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return time.Duration(n) * time.Second
			}
		}
	}
	return 0
}
