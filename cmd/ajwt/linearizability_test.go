package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// TestLinearizableStepCompletion: many clients grant, complete and approve
// the same steps of a few runs through two IdP processes on one
// PostgreSQL; the history (call and return times of every request) must
// be linearizable against the sequential specification of §5 in
// linearizability_model_test.go, and both nodes must then show each run
// the same way.
func TestLinearizableStepCompletion(t *testing.T) {
	nodes, issuer := startIdPPair(t)
	w := newLinWorkload(t, nodes, issuer)
	history := w.hammer(24, 40)
	history = append(history, w.finalReads()...)

	for step, n := range linCompletions(history) {
		if n > 1 {
			t.Errorf("%s completed %d times", step, n)
		}
	}
	res, info := porcupine.CheckOperationsVerbose(linModel, history, 20*time.Second)
	switch res {
	case porcupine.Ok:
		t.Logf("%d operations over %d runs are linearizable: %s", len(history), len(w.runs), linCounts(history))
	case porcupine.Illegal:
		file := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(linModel, info, file); err == nil {
			if keep := os.Getenv("AJWT_LIN_HISTORY"); keep != "" { // the temp dir is removed with the test
				os.Rename(file, keep)
				file = keep
			}
		}
		t.Fatalf("the history of %d operations is not linearizable (set AJWT_LIN_HISTORY=FILE.html to keep the visualization; here %s)", len(history), file)
	default:
		t.Fatalf("porcupine could not decide within its time limit (%d operations)", len(history))
	}
}

// startIdPPair starts two `ajwt serve` processes on one fresh PostgreSQL
// schema and Redis and returns their addresses and the issuer they share.
func startIdPPair(t *testing.T) ([]string, string) {
	if os.Getenv("CI") == "true" && (os.Getenv("AJWT_TEST_POSTGRES") == "" || os.Getenv("AJWT_TEST_REDIS") == "") {
		t.Fatal("CI=true: AJWT_TEST_POSTGRES and AJWT_TEST_REDIS are required; the linearizability check must run")
	}
	pg, rd := requireServices(t)
	dsn := freshSchema(t, pg)
	dir := t.TempDir()
	issuer := "http://" + freeAddr(t) // only a name: requests go to the nodes directly
	cfg := filepath.Join(dir, "ajwt.yaml")
	os.WriteFile(cfg, []byte(strings.ReplaceAll(linConfig, "ISSUER", issuer)), 0o600)
	kek := filepath.Join(dir, "kek")
	os.WriteFile(kek, []byte(strings.Repeat("4b", 32)), 0o600)
	var nodes []string
	for _, name := range []string{"idpa", "idpb"} {
		p := startProc(t, dir, name, "serve", "--config", cfg, "--store", dsn, "--redis", rd, "--kek-file", kek)
		waitHTTP(t, "http://"+p.addr+"/readyz", dir, name)
		nodes = append(nodes, "http://"+p.addr)
	}
	return nodes, issuer
}

// Refused grants are the bulk of the workload: no rate limit may turn
// them into 429s.
const linConfig = `issuer: ISSUER
signing_alg: EdDSA
token_ttl: 300s
failed_grants_per_minute: 1000000
token_requests_per_second: 1000000
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: app, client_secret: app-secret, scopes: [ajwt:run]}
  - {client_id: approver, client_secret: approver-secret, scopes: [ajwt:approve], approves_for: [app]}
`

type linAgent struct {
	key *keys.Signer
	sum agentspec.Checksum
}

type linWorkload struct {
	t        *testing.T
	nodes    []string
	issuer   string
	agents   map[string]linAgent
	runs     []string
	app      string // bearer tokens
	approver string
	start    time.Time
}

func newLinWorkload(t *testing.T, nodes []string, issuer string) *linWorkload {
	w := &linWorkload{t: t, nodes: nodes, issuer: issuer, agents: map[string]linAgent{}, start: time.Now()}
	admin := "Bearer " + mustClientToken(t, nodes[0], "admin", "admin-secret")
	for _, id := range []string{"a1", "a2"} {
		spec := &agentspec.Spec{AgentID: id, PromptTemplate: "Agent " + id + "."}
		sum, _ := agentspec.Sum(spec)
		key, err := keys.Generate(keys.EdDSA, nil)
		if err != nil {
			t.Fatal(err)
		}
		callJSON(t, http.MethodPut, nodes[0]+"/v1/agents/"+id, admin, mustJSON(map[string]any{"client_id": "app", "spec": spec,
			"public_jwk": key.Public(), "scopes": []string{"repo:read"}, "audiences": []string{"https://forge.example"}}))
		w.agents[id] = linAgent{key: key, sum: sum}
	}
	var steps []map[string]any
	for _, st := range linSteps {
		s := map[string]any{"id": st.id, "depends_on": st.deps}
		if st.agent == "" {
			s["kind"] = "approval"
		} else {
			s["agent"], s["scopes"], s["audience"] = st.agent, []string{"repo:read"}, "https://forge.example"
		}
		steps = append(steps, s)
	}
	callJSON(t, http.MethodPut, nodes[1]+"/v1/workflows/lin", admin, mustJSON(map[string]any{"steps": steps}))
	w.app = "Bearer " + mustClientToken(t, nodes[1], "app", "app-secret")
	w.approver = "Bearer " + mustClientToken(t, nodes[0], "approver", "approver-secret")
	for i := range 4 {
		var run struct {
			RunID string `json:"run_id"`
		}
		body := callJSON(t, http.MethodPost, nodes[i%2]+"/v1/runs", w.app, `{"workflow_id":"lin","initiated_by":"user:alice"}`)
		if err := json.Unmarshal(body, &run); err != nil || run.RunID == "" {
			t.Fatalf("start run: %s", body)
		}
		w.runs = append(w.runs, run.RunID)
	}
	return w
}

// hammer runs clients goroutines of ops requests each, spread over the runs
// and both nodes, and returns the history.
func (w *linWorkload) hammer(clients, ops int) []porcupine.Operation {
	var mu sync.Mutex
	var history []porcupine.Operation
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			cl := &linClient{w: w, id: c, run: w.runs[c%len(w.runs)], rng: rand.New(rand.NewPCG(uint64(c), 42)), tokens: map[string]string{}}
			for range ops {
				op, err := cl.next()
				if err != nil {
					w.t.Error(err)
					return
				}
				mu.Lock()
				history = append(history, op)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if w.t.Failed() {
		w.t.FailNow()
	}
	return history
}

// finalReads reads every run on both nodes once all writes have returned:
// both must show what the history allows, and show it the same way.
func (w *linWorkload) finalReads() []porcupine.Operation {
	var out []porcupine.Operation
	for i, run := range w.runs {
		var views []*linView
		for n := range w.nodes {
			cl := &linClient{w: w, id: 100 + i*len(w.nodes) + n, run: run}
			op, err := cl.do(linInput{run: run, op: "get", node: n})
			if err != nil {
				w.t.Fatal(err)
			}
			out = append(out, op)
			views = append(views, op.Output.(linOutput).view)
		}
		if *views[0] != *views[1] {
			w.t.Errorf("run %s: node 0 shows %s, node 1 shows %s", run, views[0], views[1])
		}
		w.t.Logf("run %s: %s", run, views[0])
	}
	return out
}

// linClient is one concurrent client: it works on one run, through either
// node, and keeps the tokens it was granted.
type linClient struct {
	w      *linWorkload
	id     int
	run    string
	rng    *rand.Rand
	tokens map[string]string // step → token (of the step's agent)
}

// next picks a request: mostly grants and completions of agent steps
// (sometimes by the wrong agent), approvals, and reads.
func (c *linClient) next() (porcupine.Operation, error) {
	in := linInput{run: c.run, node: c.rng.IntN(len(c.w.nodes))}
	st := linSteps[c.rng.IntN(len(linSteps))]
	switch p := c.rng.IntN(10); {
	case st.agent == "" || p == 0:
		in.op, in.step = "approve", "ap"
	case p == 1:
		in.op = "get"
	case c.tokens[st.id] != "" && p < 7:
		in.op, in.agent, in.step = "complete", st.agent, st.id
	default:
		in.op, in.agent, in.step = "grant", st.agent, st.id
		if c.rng.IntN(8) == 0 { // the other agent
			in.agent = map[string]string{"a1": "a2", "a2": "a1"}[st.agent]
		}
	}
	return c.do(in)
}

func (c *linClient) do(in linInput) (porcupine.Operation, error) {
	req, err := c.request(in)
	if err != nil {
		return porcupine.Operation{}, err
	}
	call := time.Since(c.w.start).Nanoseconds()
	res, err := http.DefaultClient.Do(req)
	ret := time.Since(c.w.start).Nanoseconds()
	if err != nil {
		return porcupine.Operation{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out, err := c.output(in, res.StatusCode, raw)
	if err != nil {
		return porcupine.Operation{}, err
	}
	return porcupine.Operation{ClientId: c.id, Input: in, Call: call, Output: out, Return: ret}, nil
}

func (c *linClient) request(in linInput) (*http.Request, error) {
	node := c.w.nodes[in.node]
	switch in.op {
	case "grant":
		a := c.w.agents[in.agent]
		proof, err := dpop.NewProof(a.key, http.MethodPost, c.w.issuer+"/token", dpop.ProofOptions{})
		if err != nil {
			return nil, err
		}
		form := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {in.agent}, "agent_checksum": {string(a.sum)},
			"run_id": {in.run}, "workflow_step": {in.step}}
		req, _ := http.NewRequest(http.MethodPost, node+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("app", "app-secret")
		req.Header.Set("DPoP", proof)
		return req, nil
	case "complete":
		path := "/v1/runs/" + in.run + "/steps/" + in.step + "/complete"
		tok := c.tokens[in.step]
		proof, err := dpop.NewProof(c.w.agents[in.agent].key, http.MethodPost, c.w.issuer+path, dpop.ProofOptions{AccessToken: tok})
		if err != nil {
			return nil, err
		}
		req, _ := http.NewRequest(http.MethodPost, node+path, nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		return req, nil
	case "approve":
		req, _ := http.NewRequest(http.MethodPost, node+"/v1/runs/"+in.run+"/steps/"+in.step+"/approve",
			strings.NewReader(`{"approver":"bob","comment":"ok"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", c.w.approver)
		return req, nil
	default:
		req, _ := http.NewRequest(http.MethodGet, node+"/v1/runs/"+in.run, nil)
		req.Header.Set("Authorization", c.w.app)
		return req, nil
	}
}

// output decodes an answer; a 5xx or 429 is a failure of the test, not a
// refusal the specification could explain.
func (c *linClient) output(in linInput, status int, raw []byte) (linOutput, error) {
	out := linOutput{ok: status == http.StatusOK, status: status}
	if status >= 500 || status == http.StatusTooManyRequests || (!out.ok && status/100 != 4) {
		return out, &linError{in: in, status: status, body: string(raw)}
	}
	if !out.ok {
		return out, nil
	}
	if in.op == "grant" {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" {
			return out, &linError{in: in, status: status, body: string(raw)}
		}
		if in.agent == linSteps[linStepIndex(in.step)].agent {
			c.tokens[in.step] = tok.AccessToken
		}
		return out, nil
	}
	var view struct {
		Status string `json:"status"`
		Steps  []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(raw, &view); err != nil || len(view.Steps) != len(linSteps) {
		return out, &linError{in: in, status: status, body: string(raw)}
	}
	out.view = &linView{status: view.Status}
	for _, s := range view.Steps {
		out.view.state[linStepIndex(s.ID)] = s.State
	}
	return out, nil
}

type linError struct {
	in     linInput
	status int
	body   string
}

func (e *linError) Error() string {
	return fmt.Sprintf("node%d %s %s %s: unexpected answer %d %s", e.in.node, e.in.op, e.in.agent, e.in.step, e.status, e.body)
}

// linCounts sums up a history: how many of each request succeeded.
func linCounts(history []porcupine.Operation) string {
	n := map[string]int{}
	for _, op := range history {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		n[fmt.Sprintf("%s %v", in.op, out.ok)]++
	}
	var parts []string
	for _, op := range []string{"grant", "complete", "approve", "get"} {
		parts = append(parts, fmt.Sprintf("%s %d/%d", op, n[op+" true"], n[op+" true"]+n[op+" false"]))
	}
	return strings.Join(parts, ", ") + " succeeded"
}

// linCompletions counts the successful completions and approvals of each
// step: the plainest symptom of a history that is not linearizable.
func linCompletions(history []porcupine.Operation) map[string]int {
	n := map[string]int{}
	for _, op := range history {
		if in := op.Input.(linInput); op.Output.(linOutput).ok && (in.op == "complete" || in.op == "approve") {
			n["run "+in.run+" step "+in.step]++
		}
	}
	return n
}
