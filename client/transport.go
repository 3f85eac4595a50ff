package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/ajwt/ajwt/dpop"
)

// Transport is an http.RoundTripper that sends each request with
// "Authorization: DPoP <token>" and a fresh proof (with ath) from the
// token's agent. It retries once when the server asks for a DPoP nonce,
// and once with a new token when the server says the token expired.
type Transport struct {
	Source TokenSource
	Base   http.RoundTripper // default: http.DefaultTransport
	// MCP turns an enforcer's refusal of a POSTed JSON-RPC message (§12.2)
	// into a JSON-RPC error response with code MCPRefusalCode and the
	// refusal as data (MCPRefusal), HTTP status kept. Set it when the
	// Transport carries an MCP client: the official SDKs then report the
	// refusal, reason included, as that call's error and keep the session.
	MCP bool
	// TraceContext, if set, writes the trace context of a request's
	// context into its headers (W3C traceparent, tracestate) when the
	// request has none, so that the enforcer and the API join the caller's
	// trace. With OpenTelemetry:
	//
	//	func(ctx context.Context, h http.Header) {
	//		otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
	//	}
	//
	// A traceparent the request already carries is sent as it is.
	TraceContext func(ctx context.Context, h http.Header)
}

// RoundTrip implements http.RoundTripper. It never modifies req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.roundTrip(req)
	if err != nil || !t.MCP {
		return res, err
	}
	return mcpRefusal(req, res), nil
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		defer req.Body.Close() // every attempt sends a copy from GetBody
	}
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		closeUnsent(req)
		return nil, err
	}
	res, err := t.send(req, tok, "")
	if err != nil {
		return nil, err
	}
	switch retry := retryReason(res); {
	case retry == "token_used":
		// Spent by an earlier call of a one-time route: this call is
		// refused as it is (retrying would repeat a one-time action the
		// caller did not ask twice for), but the next one gets a fresh
		// token instead of the spent one.
		t.invalidate(tok)
		return res, nil
	case retry == "" || !replayable(req):
		return res, nil
	case retry == "use_dpop_nonce":
		drain(res)
		return t.send(req, tok, res.Header.Get("DPoP-Nonce"))
	default: // expired token: one fresh token
		t.invalidate(tok)
		fresh, err := t.Source.Token(req.Context())
		if err != nil {
			return res, nil
		}
		drain(res)
		return t.send(req, fresh, "")
	}
}

// send makes one attempt. The base transport closes the body it is given;
// on a failure before that, send closes it.
func (t *Transport) send(req *http.Request, tok *Token, nonce string) (*http.Response, error) {
	out, err := t.prepare(req, tok, nonce)
	if err != nil {
		closeUnsent(req)
		return nil, err
	}
	return t.base().RoundTrip(out)
}

func (t *Transport) prepare(req *http.Request, tok *Token, nonce string) (*http.Request, error) {
	if tok.ProofKey == nil {
		return nil, errors.New("client: token has no proof key")
	}
	proof, err := dpop.NewProof(tok.ProofKey, req.Method, req.URL.String(), dpop.ProofOptions{AccessToken: tok.AccessToken, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		if out.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	out.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	out.Header.Set("DPoP", proof)
	injectTrace(t.TraceContext, out)
	return out, nil
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) invalidate(tok *Token) {
	if inv, ok := t.Source.(Invalidator); ok {
		inv.Invalidate(tok)
	}
}

// retryReason reads a 401 challenge: "use_dpop_nonce", "expired",
// "token_used" or "".
func retryReason(res *http.Response) string {
	if res.StatusCode != http.StatusUnauthorized {
		return ""
	}
	h := res.Header.Get("WWW-Authenticate")
	switch {
	case strings.Contains(h, `error="use_dpop_nonce"`) && res.Header.Get("DPoP-Nonce") != "":
		return "use_dpop_nonce"
	case strings.Contains(h, `error="invalid_token"`) && strings.Contains(strings.ToLower(h), "expired"):
		return "expired"
	case strings.Contains(h, `error="invalid_token"`) && strings.Contains(h, `error_description="token_used"`):
		return "token_used"
	}
	return ""
}

// replayable: a request can be sent again only if its body can be re-read.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
}

// closeUnsent closes a body no attempt took over: one without GetBody,
// which the first attempt would have sent (with GetBody, roundTrip closes
// the original, and each attempt sends a copy).
func closeUnsent(req *http.Request) {
	if req.GetBody == nil && req.Body != nil {
		req.Body.Close()
	}
}

// injectTrace adds the trace context of req's context unless req has one.
func injectTrace(inject func(context.Context, http.Header), req *http.Request) {
	if inject != nil && req.Header.Get("Traceparent") == "" {
		inject(req.Context(), req.Header)
	}
}
