package middleware_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ajwt/ajwt/dpop"
)

const mcpPolicyYAML = `
issuer: ISSUER
resource: https://forge.example
routes:
  - match: {method: POST, path: /mcp}
    workflow: wf
    mcp:
      methods: [resources/list]
      tools:
        - {name: list_files, scopes: [repo:read], steps: [plan, patch], context: {repo: "{args.repo}"}}
        - {name: merge_pull_request, scopes: [repo:write], steps: [patch], agents: [patcher], context: {repo: "{args.repo}"}, one_time: true}
  - match: {method: GET, path: /mcp}
    mcp: {}
  - match: {method: DELETE, path: /mcp}
    mcp: {}
  - match: {method: GET, path: "/repos/**"}
    scopes: [repo:read]
`

// mcpWorld is the IdP of world with an MCP endpoint behind the middleware
// and behind the proxy; the upstream records every body it receives.
type mcpWorld struct {
	*world
	mu     sync.Mutex
	bodies []string
}

func newMCPWorld(t *testing.T) *mcpWorld { return newMCPWorldWith(t, nil) }

// newMCPWorldWith serves answer behind the enforcers instead of the
// recording upstream, when it is not nil.
func newMCPWorldWith(t *testing.T, answer http.Handler) *mcpWorld {
	t.Helper()
	m := &mcpWorld{world: &world{t: t, agents: map[string]*agent{}}}
	m.startIdP()
	m.register()
	var up http.Handler = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.bodies = append(m.bodies, string(body))
		m.lastSeen = r.Header.Clone()
		m.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		io.WriteString(rw, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	if answer != nil {
		up = answer
	}
	m.upstream = httptest.NewServer(up)
	t.Cleanup(m.upstream.Close)
	m.enforce(mcpPolicyYAML, up)
	return m
}

func (m *mcpWorld) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.bodies...)
}

// post sends one MCP message with a fresh proof by the agent's key.
func (m *mcpWorld) post(base, tok, agentID, body string) (int, map[string]any, http.Header) {
	m.t.Helper()
	hdr := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json, text/event-stream"}}
	if agentID != "" {
		p, err := dpop.NewProof(m.agents[agentID].key, http.MethodPost, base+"/mcp", dpop.ProofOptions{AccessToken: tok})
		if err != nil {
			m.t.Fatal(err)
		}
		hdr.Set("DPoP", p)
	}
	auth := ""
	if tok != "" {
		auth = "DPoP " + tok
	}
	return m.call(http.MethodPost, base+"/mcp", auth, strings.NewReader(body), hdr)
}

func toolCall(id, tool, args string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
}

// TestMCPEnforcement runs the §12.2 decisions through the middleware and
// the proxy: each allowed message reaches the MCP server byte for byte,
// no refused one reaches it at all.
func TestMCPEnforcement(t *testing.T) {
	m := newMCPWorld(t)
	for _, door := range []struct{ name, base string }{{"middleware", m.api.URL}, {"proxy", m.prx.URL}} {
		t.Run(door.name, func(t *testing.T) {
			run := m.startRun("acme/web")
			plan := m.grant("planner", run, "plan")
			m.complete("planner", run, "plan", plan)
			patch := m.grant("patcher", run, "patch")
			other := m.startRun("acme/web")
			otherPlan := m.grant("planner", other, "plan")
			tests := []struct {
				name, tok, agent, body string
				status                 int
				reason                 string
			}{
				{"initialize", plan, "planner", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, 200, ""},
				{"initialized notification", plan, "planner", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 200, ""},
				{"ping", plan, "planner", `{"jsonrpc":"2.0","id":"p","method":"ping"}`, 200, ""},
				{"tools/list", plan, "planner", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, 200, ""},
				{"extra method", plan, "planner", `{"jsonrpc":"2.0","id":3,"method":"resources/list"}`, 200, ""},
				{"allowed tool", plan, "planner", toolCall("4", "list_files", `{"repo":"acme/web"}`), 200, ""},
				{"tool outside the step", plan, "planner", toolCall("5", "merge_pull_request", `{"repo":"acme/web","number":1}`), 403, "insufficient_scope"},
				{"tool not listed", patch, "patcher", toolCall("6", "delete_repository", `{"repo":"acme/web"}`), 403, "tool_not_allowed"},
				{"swapped repository", patch, "patcher", toolCall("7", "merge_pull_request", `{"repo":"acme/api","number":1}`), 403, "context_mismatch"},
				{"no arguments", patch, "patcher", `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"merge_pull_request"}}`, 403, "context_mismatch"},
				{"other method", plan, "planner", `{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`, 403, "method_not_allowed"},
				{"batch", plan, "planner", `[{"jsonrpc":"2.0","id":10,"method":"ping"}]`, 400, "mcp_batch"},
				{"not json-rpc", plan, "planner", `{"id":11,"method":"ping"}`, 400, "mcp_malformed"},
				{"duplicate method", plan, "planner", `{"jsonrpc":"2.0","id":12,"method":"ping","method":"tools/call","params":{"name":"merge_pull_request"}}`, 400, "mcp_malformed"},
				{"too large", plan, "planner", `{"jsonrpc":"2.0","id":13,"method":"ping","params":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`, 413, "too_large"},
				{"no token", "", "", `{"jsonrpc":"2.0","id":14,"method":"initialize"}`, 401, "malformed"},
				{"bearer without proof", plan, "", `{"jsonrpc":"2.0","id":15,"method":"tools/list"}`, 401, "missing_proof"},
				{"token of another run is fine for reads", otherPlan, "planner", toolCall("16", "list_files", `{"repo":"acme/web"}`), 200, ""},
				{"one-time tool", patch, "patcher", toolCall("17", "merge_pull_request", `{"repo":"acme/web","number":1}`), 200, ""},
				{"one-time tool again", patch, "patcher", toolCall("18", "merge_pull_request", `{"repo":"acme/web","number":1}`), 401, "token_used"},
				{"ping after the one-time tool", patch, "patcher", `{"jsonrpc":"2.0","id":19,"method":"ping"}`, 200, ""},
			}
			for _, tt := range tests {
				before := len(m.received())
				code, body, _ := m.post(door.base, tt.tok, tt.agent, tt.body)
				after := m.received()
				if code != tt.status || (tt.reason != "" && body["reason"] != tt.reason) {
					t.Fatalf("%s: %d %v, want %d %s", tt.name, code, body, tt.status, tt.reason)
				}
				if tt.status == 200 && (len(after) != before+1 || after[before] != tt.body) {
					t.Fatalf("%s: the MCP server did not get the message as sent: %q", tt.name, after[before:])
				}
				if tt.status != 200 && len(after) != before {
					t.Fatalf("%s: a refused message reached the MCP server: %q", tt.name, after[before:])
				}
			}
		})
	}
}

// TestMCPChallengesAndMetadata: stock MCP clients find the IdP from a
// 401 (RFC 9728) and the scopes they lack from a 403 (§12.1).
func TestMCPChallengesAndMetadata(t *testing.T) {
	m := newMCPWorld(t)
	run := m.startRun("acme/web")
	plan := m.grant("planner", run, "plan")
	for _, base := range []string{m.api.URL, m.prx.URL} {
		code, _, hdr := m.post(base, "", "", `{"jsonrpc":"2.0","id":1,"method":"initialize"}`)
		if want := `resource_metadata="` + base + `/.well-known/oauth-protected-resource/mcp"`; code != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), want) {
			t.Fatalf("401 challenge %q, want %s", hdr.Get("WWW-Authenticate"), want)
		}
		code, _, hdr = m.post(base, plan, "planner", toolCall("2", "merge_pull_request", `{"repo":"acme/web"}`))
		if ch := hdr.Get("WWW-Authenticate"); code != 403 || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `scope="repo:write"`) {
			t.Fatalf("403 challenge %q", ch)
		}
		for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource/repos/acme/web"} {
			code, body, hdr := m.call(http.MethodGet, base+path, "", nil, nil)
			if code != 200 || body["resource"] != "https://forge.example" || hdr.Get("Content-Type") != "application/json" {
				t.Fatalf("%s: %d %v", path, code, body)
			}
			if got := body["authorization_servers"].([]any); len(got) != 1 || got[0] != m.idp.URL {
				t.Fatalf("authorization_servers %v", got)
			}
			if got := body["scopes_supported"].([]any); len(got) != 2 || got[0] != "repo:read" || got[1] != "repo:write" {
				t.Fatalf("scopes_supported %v", got)
			}
			if body["dpop_bound_access_tokens_required"] != true || len(body["dpop_signing_alg_values_supported"].([]any)) != 3 {
				t.Fatalf("metadata %v", body)
			}
		}
		if code, _, _ := m.call(http.MethodGet, base+"/.well-known/oauth-protected-resource/nothing", "", nil, nil); code == 200 {
			t.Fatal("metadata for a path no route serves")
		}
	}
}

// TestMCPBodyReachesHandler: the middleware puts the body it read back,
// so the MCP handler reads the exact bytes the decision was made on.
func TestMCPBodyReachesHandler(t *testing.T) {
	m := newMCPWorld(t)
	run := m.startRun("acme/web")
	plan := m.grant("planner", run, "plan")
	body := toolCall("1", "list_files", `{"repo":"acme/web","padding":"`+strings.Repeat("y", 60<<10)+`"}`)
	code, res, _ := m.post(m.api.URL, plan, "planner", body)
	if got := m.received(); code != 200 || len(got) != 1 || !bytes.Equal([]byte(got[0]), []byte(body)) {
		t.Fatalf("%d %v", code, res)
	}
}

// TestMCPToolsListFilteredByTheProxy: a tools/list answer in either form,
// and a tools/list answer replayed on the session's GET stream after a
// reconnection, reach the client cut down to the step's tools; the
// notifications around it pass unchanged.
func TestMCPToolsListFilteredByTheProxy(t *testing.T) {
	const tools = `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_files"},{"name":"merge_pull_request"},{"name":"delete_repository"}]}}`
	const filtered = `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_files"}]}}`
	const note = `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`
	m := newMCPWorldWith(t, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.Header.Get("Accept") == "application/json" {
			rw.Header().Set("Content-Type", "application/json")
			io.WriteString(rw, tools)
			return
		}
		rw.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(rw, "event: message\ndata: "+note+"\n\nid: 9\ndata: "+tools+"\n\n")
	}))
	run := m.startRun("acme/web")
	plan := m.grant("planner", run, "plan")
	key := m.agents["planner"].key
	send := func(method, accept, body string) string {
		p, _ := dpop.NewProof(key, method, m.prx.URL+"/mcp", dpop.ProofOptions{AccessToken: plan})
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		code, res, _ := m.call(method, m.prx.URL+"/mcp", "DPoP "+plan, rd, http.Header{"Dpop": {p}, "Accept": {accept}, "Last-Event-Id": {"8"}})
		if code != 200 {
			t.Fatalf("%s: %d %v", method, code, res)
		}
		if text, ok := res["text"].(string); ok {
			return text
		}
		b, _ := json.Marshal(res)
		return string(b)
	}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	var got map[string]any
	if err := json.Unmarshal([]byte(send(http.MethodPost, "application/json", list)), &got); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(got); !strings.Contains(string(b), `"tools":[{"name":"list_files"}]`) {
		t.Fatalf("JSON answer %s", b)
	}
	want := "event: message\ndata: " + note + "\n\nid: 9\ndata: " + filtered + "\n\n"
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		body := ""
		if method == http.MethodPost {
			body = list
		}
		if got := send(method, "text/event-stream", body); got != want {
			t.Fatalf("%s stream:\n%q\nwant\n%q", method, got, want)
		}
	}
}
