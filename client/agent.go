package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// AgentKey supplies an agent's proof key.
type AgentKey interface {
	signer(agentID string, sum agentspec.Checksum) (*keys.Signer, error)
}

type derivedKey struct{ master []byte }

// DerivedKey derives each agent's Ed25519 key from the shim master secret
// (§3): a changed agent gets a different key.
func DerivedKey(master []byte) AgentKey {
	return derivedKey{master: append([]byte(nil), master...)}
}

func (d derivedKey) signer(agentID string, sum agentspec.Checksum) (*keys.Signer, error) {
	priv, err := keys.DeriveAgentKey(d.master, agentID, string(sum))
	if err != nil {
		return nil, err
	}
	return keys.NewSigner(priv, keys.EdDSA, "")
}

type fixedKey struct{ s *keys.Signer }

// SignerKey uses a key held elsewhere (file, KMS, HSM) for one agent.
func SignerKey(s crypto.Signer, alg keys.Alg) (AgentKey, error) {
	signer, err := keys.NewSigner(s, alg, "")
	if err != nil {
		return nil, err
	}
	return fixedKey{s: signer}, nil
}

func (f fixedKey) signer(string, agentspec.Checksum) (*keys.Signer, error) { return f.s, nil }

// Agent is one agent of the client. Its methods sign only with its own key
// and only in its own name.
type Agent struct {
	c    *Client
	spec *agentspec.Spec
	key  AgentKey

	mu      sync.Mutex
	sources map[sourceKey]*tokenSource

	// The key of the last checksum seen: the checksum is recomputed for
	// every request (a changed spec must show at once), but deriving the
	// key again for an unchanged one would only repeat the same HKDF.
	keyMu   sync.Mutex
	lastSum agentspec.Checksum
	lastKey *keys.Signer
}

// ID is the agent id of the spec.
func (a *Agent) ID() string { return a.spec.AgentID }

// Checksum recomputes the checksum of the live spec.
func (a *Agent) Checksum() (agentspec.Checksum, error) { return agentspec.Sum(a.spec) }

// identity is the checksum and key of the spec as it is now.
func (a *Agent) identity() (agentspec.Checksum, *keys.Signer, error) {
	sum, err := a.Checksum()
	if err != nil {
		return "", nil, fmt.Errorf("client: agent %s: %w", a.ID(), err)
	}
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.lastKey != nil && a.lastSum == sum {
		return sum, a.lastKey, nil
	}
	s, err := a.key.signer(a.ID(), sum)
	if err != nil {
		return "", nil, err
	}
	a.lastSum, a.lastKey = sum, s
	return sum, s, nil
}

// Render fills the agent's prompt template (§2.5), refusing values outside
// their declared patterns before anything reaches a model.
func (a *Agent) Render(values map[string]string) (string, error) { return a.spec.Render(values) }

// RegistrationError says how the local agent differs from its registration.
type RegistrationError struct {
	AgentID string
	Field   string // agent_checksum, jkt, revoked or registration
	Local   string
	IdP     string
}

func (e *RegistrationError) Error() string {
	return fmt.Sprintf("client: agent %s: local %s %s differs from the IdP's %s", e.AgentID, e.Field, e.Local, e.IdP)
}

// VerifyRegistration compares the local checksum and key thumbprint with
// the IdP's registration: run it at start-up, before any work.
func (a *Agent) VerifyRegistration(ctx context.Context) error {
	sum, s, err := a.identity()
	if err != nil {
		return err
	}
	var reg struct {
		AgentChecksum string `json:"agent_checksum"`
		JKT           string `json:"jkt"`
		Revoked       bool   `json:"revoked"`
	}
	auth, err := a.c.appBearer(ctx)
	if err != nil {
		return err
	}
	if err := a.c.getJSON(ctx, a.c.meta.AgentRegistration+"/"+url.PathEscape(a.ID()), auth, &reg); err != nil {
		var re *RetrieveError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return &RegistrationError{AgentID: a.ID(), Field: "registration", Local: "present", IdP: "missing"}
		}
		return err
	}
	switch {
	case !agentspec.Checksum(reg.AgentChecksum).Equal(sum):
		return &RegistrationError{AgentID: a.ID(), Field: "agent_checksum", Local: string(sum), IdP: reg.AgentChecksum}
	case reg.JKT != s.Thumbprint():
		return &RegistrationError{AgentID: a.ID(), Field: "jkt", Local: s.Thumbprint(), IdP: reg.JKT}
	case reg.Revoked:
		return &RegistrationError{AgentID: a.ID(), Field: "revoked", Local: "false", IdP: "true"}
	}
	return nil
}

// grant performs the agent_checksum grant with a fresh proof, retrying
// once with the IdP's nonce when it asks for one. It returns the checksum
// and key the grant showed: the spec may change while it is under way.
func (a *Agent) grant(ctx context.Context, form url.Values) (*tokenResponse, agentspec.Checksum, *keys.Signer, error) {
	sum, s, err := a.identity()
	if err != nil {
		return nil, "", nil, err
	}
	form.Set("grant_type", protocol.GrantAgentChecksum)
	form.Set("agent_id", a.ID())
	form.Set("agent_checksum", string(sum))
	res, err := a.postWithProof(ctx, s, form)
	return res, sum, s, err
}

func (a *Agent) postWithProof(ctx context.Context, s *keys.Signer, form url.Values) (*tokenResponse, error) {
	for attempt := 0; ; attempt++ {
		proof, err := dpop.NewProof(s, http.MethodPost, a.c.meta.TokenEndpoint, dpop.ProofOptions{Nonce: a.c.currentNonce(), Now: a.c.cfg.Now()})
		if err != nil {
			return nil, err
		}
		var res tokenResponse
		err = a.c.postForm(ctx, form, proof, &res)
		if attempt == 0 && errors.Is(err, protocol.ErrNonceRequired) {
			continue
		}
		return &res, err
	}
}

// Complete reports the agent's step done (§5), with the step's own token:
// one the agent already holds for that run and step (for whatever
// resource), or a new one.
func (a *Agent) Complete(ctx context.Context, runID, step string) (*Run, error) {
	return a.complete(ctx, runID, step, nil)
}

// CompleteWithResult is Complete that also records the SHA-256 of what the
// step produced (result_sha256, §5): approvers and auditors see which
// result a later step was approved on, without the IdP holding the result.
func (a *Agent) CompleteWithResult(ctx context.Context, runID, step string, result []byte) (*Run, error) {
	sum := sha256.Sum256(result)
	body, _ := json.Marshal(map[string]string{"result_sha256": hex.EncodeToString(sum[:])}) // strings only: cannot fail
	return a.complete(ctx, runID, step, body)
}

func (a *Agent) complete(ctx context.Context, runID, step string, body []byte) (*Run, error) {
	src := a.sourceFor(runID, step)
	tok, err := src.Token(ctx)
	if err != nil {
		return nil, err
	}
	u := a.c.meta.RunEndpoint + "/" + url.PathEscape(runID) + "/steps/" + url.PathEscape(step) + "/complete"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := &http.Client{Transport: &Transport{Source: src, Base: a.c.hc.Transport}, Timeout: a.c.hc.Timeout}
	var run Run
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if _, err := decodeResponse(res, &run); err != nil {
		return nil, err
	}
	src.Invalidate(tok)
	return &run, nil
}

// Delegate signs a delegation assertion (§6.3) that lets agent to execute
// step of run; to sends it with its own grant (WithDelegation). It is valid
// for 30 seconds and once.
func (a *Agent) Delegate(to, runID, step string) (string, error) {
	_, s, err := a.identity()
	if err != nil {
		return "", err
	}
	signer, err := s.JOSE(protocol.TypeDelegation, nil)
	if err != nil {
		return "", err
	}
	now := a.c.cfg.Now()
	claims := map[string]any{"iss": a.ID(), "sub": to, "aud": a.c.meta.Issuer, "run_id": runID, "workflow_step": step,
		"iat": now.Unix(), "exp": now.Add(30 * time.Second).Unix(), "jti": randomID()}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// Exchange trades the agent's token for a narrower one (§6.4, RFC 8693).
func (a *Agent) Exchange(ctx context.Context, subjectToken string, scopes []string, resource string) (*Token, error) {
	sum, s, err := a.identity()
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {protocol.GrantTokenExchange}, "subject_token": {subjectToken},
		"subject_token_type": {protocol.TokenTypeAccessToken}, "requested_token_type": {protocol.TokenTypeAccessToken}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	if resource != "" {
		form.Set("resource", resource)
	}
	res, err := a.postWithProof(ctx, s, form)
	if err != nil {
		return nil, err
	}
	return a.toToken(res, sum, s), nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// sourceFor returns a token source of the agent for the run's step that
// holds a live token, so that completing a step does not cost a grant
// (the IdP takes the step's intent token whatever its audience); without
// one, the step's plain source. A source that holds no token is not
// taken: it may be for a resource the step cannot get a token for.
func (a *Agent) sourceFor(runID, step string) *tokenSource {
	now := a.c.cfg.Now()
	a.mu.Lock()
	var held []*tokenSource
	for k, s := range a.sources {
		if k.run == runID && k.step == step {
			held = append(held, s)
		}
	}
	a.mu.Unlock()
	for _, s := range held {
		if s.live(now) {
			return s
		}
	}
	return a.source(runID, step, sourceOptions{})
}
