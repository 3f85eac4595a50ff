package notes_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/proxy"
	"github.com/ajwt/ajwt/specfile"
)

// TestGuide follows docs/GUIDE.md with the example's own files: the IdP
// with ajwt.yaml, the notes API, the proxy with policy.yaml, and the agent
// program, built and run as the guide runs them (on free ports; only the
// issuer URL is rewritten, as `ajwt proxy --issuer` does).
func TestGuide(t *testing.T) {
	bin := buildExample(t)
	idp := startIdP(t)
	api := startAPI(t, bin)
	front := startProxy(t, idp, api.url)
	agent := func(args ...string) (string, error) {
		return runAgent(t, bin, append(args, "--dir", ".", "--issuer", idp, "--api", front))
	}

	// Step 3: the reader reviews note 1, and its forbidden attempts fail.
	out, err := agent("propose", "--note", "1", "--text", "Buy oat milk", "--misbehave")
	if err != nil {
		t.Fatalf("propose: %v\n%s", err, out)
	}
	for _, want := range []string{
		`note 1 says "Buy milk"`,
		"POST /notes with its read token: refused by the proxy: 403 insufficient_scope (insufficient_scope)",
		"GET /notes/2 (not the run's note): refused by the proxy: 403 intent_mismatch (context_mismatch)",
		"a token for step write: refused by the IdP: 403 workflow_step_unauthorized (wrong_agent)",
		"read=completed approve=ready write=pending",
	} {
		mustContain(t, "propose", out, want)
	}
	run := regexp.MustCompile(`(?m)^RUN=(\S+)$`).FindStringSubmatch(out)
	if run == nil {
		t.Fatalf("propose printed no RUN= line:\n%s", out)
	}
	runID := run[1]

	// The editor before the approval: the IdP issues no token for `write`.
	out, err = agent("apply", "--run", runID)
	if err == nil {
		t.Fatalf("apply before the approval succeeded:\n%s", out)
	}
	mustContain(t, "apply before approval", out,
		"refused by the IdP: 403 workflow_step_unauthorized (dependencies_not_completed): step \"write\" waits for approve (missing_steps: [approve])")

	// Step 4: the approval, as the guide's curl commands send it.
	if status, body := approve(t, idp, runID, "user:alice"); status != http.StatusForbidden || !strings.Contains(body, `"reason":"self_approval"`) {
		t.Fatalf("self-approval: %d %s", status, body)
	}
	if status, body := approve(t, idp, runID, "user:bob"); status != http.StatusOK || !strings.Contains(body, `"completed_by":"approver:user:bob"`) {
		t.Fatalf("approval: %d %s", status, body)
	}

	// Step 5: the editor writes, and its forbidden attempts fail.
	out, err = agent("apply", "--run", runID, "--misbehave")
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for _, want := range []string{
		"editor: created note 4 (the API recorded created_by=editor)",
		"editor: deleted note 1",
		"DELETE /notes/1 again (one_time route): refused by the proxy: 401 invalid_token (token_used)",
		"DELETE /notes/2 (not the run's note): refused by the proxy: 403 intent_mismatch (context_mismatch)",
		"GET /notes with its write token: refused by the proxy: 403 insufficient_scope (insufficient_scope)",
		"run completed",
	} {
		mustContain(t, "apply", out, want)
	}

	// The API saw who did what, and only what the proxy let through.
	for _, want := range []string{
		"GET /notes -> 200  agent=reader initiated_by=user:alice client=app step=read run=" + runID,
		"GET /notes/1 -> 200  agent=reader initiated_by=user:alice client=app step=read run=" + runID,
		"POST /notes -> 201  agent=editor initiated_by=user:alice client=app step=write run=" + runID,
		"DELETE /notes/1 -> 204  agent=editor initiated_by=user:alice client=app step=write run=" + runID,
	} {
		api.waitLine(t, want)
	}
	var notes []struct {
		ID         int    `json:"id"`
		CreatedBy  string `json:"created_by"`
		OnBehalfOf string `json:"on_behalf_of"`
	}
	getJSON(t, api.url+"/notes", &notes)
	if len(notes) != 3 || notes[0].ID != 2 || notes[2].ID != 4 || notes[2].CreatedBy != "editor" || notes[2].OnBehalfOf != "user:alice" {
		t.Fatalf("notes after the run: %+v", notes)
	}
	api.mustNotHave(t, "POST /notes -> 201  agent=reader")
}

// TestGuideErrors checks what docs/GUIDE.md says a changed agent and a
// wrong resource earn, with the SDK the agent program uses.
func TestGuideErrors(t *testing.T) {
	idp := startIdP(t)
	ctx := t.Context()
	app, err := client.New(ctx, client.Config{Issuer: idp, ClientID: "app", ClientSecret: secret(t, "AJWT_APP_SECRET")})
	if err != nil {
		t.Fatal(err)
	}
	master, err := keys.LoadMasterSecretFile("shim-master.key")
	if err != nil {
		t.Fatal(err)
	}
	run, err := app.StartRun(ctx, "notes-edit", "user:alice", map[string]string{"note": "1", "text": "x"})
	if err != nil {
		t.Fatal(err)
	}
	// The editor as it would be after someone edited agents/editor.yaml
	// without registering it again.
	changedSpec, err := specfile.Load("agents/editor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	changedSpec.PromptTemplate += "Be brief.\n"
	changed, err := app.Agent(changedSpec, client.DerivedKey(master))
	if err != nil {
		t.Fatal(err)
	}
	reader := loadAgent(t, app, "reader", master)

	cases := []struct {
		name, code, reason string
		token              func() error
	}{
		{"spec edited after registration", protocol.CodeAgentChecksumMismatch, "", func() error {
			_, err := changed.TokenSource(run.ID, "write").Token(ctx)
			return err
		}},
		{"resource the step does not name", protocol.CodeInvalidTarget, "", func() error {
			_, err := reader.TokenSource(run.ID, "read", client.WithResource("https://other.example")).Token(ctx)
			return err
		}},
		{"editor before the approval", protocol.CodeWorkflowStepUnauthorized, "dependencies_not_completed", func() error {
			_, err := loadAgent(t, app, "editor", master).TokenSource(run.ID, "write").Token(ctx)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var re *client.RetrieveError
			if err := tc.token(); !errors.As(err, &re) || re.Code() != tc.code || re.Err.Reason != tc.reason {
				t.Fatalf("got %v, want %s (%s)", err, tc.code, tc.reason)
			}
		})
	}
	var regErr *client.RegistrationError
	if err := changed.VerifyRegistration(ctx); !errors.As(err, &regErr) || regErr.Field != "agent_checksum" {
		t.Fatalf("VerifyRegistration of the edited spec: %v", err)
	}

	// The IdP restarted with the edited spec but the public_jwk of
	// ajwt.yaml left as it was: the spec registers, the key is stale.
	registerWithConfiguredKey(t, idp, "editor", changedSpec)
	if err := changed.VerifyRegistration(ctx); !errors.As(err, &regErr) || regErr.Field != "jkt" {
		t.Fatalf("VerifyRegistration with the stale key: %v", err)
	}
	var re *client.RetrieveError
	_, err = changed.TokenSource(run.ID, "write").Token(ctx)
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || re.Code() != protocol.CodeInvalidDPoPProof || re.Err.Reason != "key_mismatch" {
		t.Fatalf("token with the stale key: %v", err)
	}
}

// registerWithConfiguredKey registers agent id with spec and everything
// else as ajwt.yaml declares it, through the admin API: what a restart of
// the IdP with an edited spec file does.
func registerWithConfiguredKey(t *testing.T, idp, id string, spec *agentspec.Spec) {
	t.Helper()
	cfg, err := authserver.LoadConfig("ajwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cfg.Agents, func(a authserver.AgentConfig) bool { return a.AgentID == id })
	if i < 0 {
		t.Fatalf("ajwt.yaml declares no agent %s", id)
	}
	ac := cfg.Agents[i]
	var jwk map[string]any
	if err := ac.PublicJWK.Decode(&jwk); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"client_id": ac.ClientID, "spec": spec, "public_jwk": jwk, "scopes": ac.Scopes, "audiences": ac.Audiences})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, idp+"/v1/agents/"+id, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+clientToken(t, idp, "admin", "AJWT_ADMIN_SECRET"))
	req.Header.Set("Content-Type", "application/json")
	if status, answer := do(t, req); status != http.StatusOK {
		t.Fatalf("registering %s again: %d %s", id, status, answer)
	}
}

// buildExample builds the notes API and the agent program.
func buildExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", dir+string(filepath.Separator), "./api", "./agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// startIdP runs the authorization server with ajwt.yaml, as `ajwt serve`
// does, on a free port that becomes its issuer.
func startIdP(t *testing.T) string {
	t.Helper()
	cfg, err := authserver.LoadConfig("ajwt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://" + ln.Addr().String()
	st, err := sqlstore.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "idp.db"), sqlstore.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(context.Background(), cfg, st, authserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close(); st.Close() })
	return cfg.Issuer
}

// startProxy runs the enforcing proxy with policy.yaml, as `ajwt proxy
// --issuer IDP` does (without its restart guard: a fresh cache has seen
// nothing).
func startProxy(t *testing.T, issuer, upstream string) string {
	t.Helper()
	data, err := os.ReadFile("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policyfile.ParseRules(data)
	if err != nil {
		t.Fatal(err)
	}
	rules.Issuer = issuer
	pol, err := policy.Compile(*rules)
	if err != nil {
		t.Fatal(err)
	}
	enf, err := middleware.New(t.Context(), pol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enf.Close)
	up, _ := url.Parse(upstream)
	h, err := proxy.New(up, enf, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// notesAPI is the running API binary and the lines it printed.
type notesAPI struct {
	url   string
	lines chan string
	seen  []string
}

func startAPI(t *testing.T, bin string) *notesAPI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "api"), "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	api := &notesAPI{lines: make(chan string, 64)}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("the API printed nothing: %v", sc.Err())
	}
	addr, ok := strings.CutPrefix(sc.Text(), "notes API listening on ")
	if !ok {
		t.Fatalf("the API's first line: %q", sc.Text())
	}
	api.url = addr
	go func() {
		defer close(api.lines)
		for sc.Scan() {
			api.lines <- sc.Text()
		}
	}()
	return api
}

// waitLine consumes the API's lines up to one containing want. The API
// prints a line before it answers, so every line of a finished request is
// in the pipe already.
func (a *notesAPI) waitLine(t *testing.T, want string) {
	t.Helper()
	for line := range a.lines {
		a.seen = append(a.seen, line)
		if strings.Contains(line, want) {
			return
		}
	}
	t.Fatalf("the API never printed %q; it printed:\n%s", want, strings.Join(a.seen, "\n"))
}

func (a *notesAPI) mustNotHave(t *testing.T, unwanted string) {
	t.Helper()
	for _, line := range a.seen {
		if strings.Contains(line, unwanted) {
			t.Fatalf("the API printed %q", line)
		}
	}
}

// runAgent runs the agent program and returns what it printed, stdout
// then stderr.
func runAgent(t *testing.T, bin string, args []string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.CommandContext(t.Context(), filepath.Join(bin, "agent"), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// approve sends the two requests of the guide's curl commands: a
// client_credentials token for the approver client, then the approval.
func approve(t *testing.T, idp, runID, approver string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"approver": approver, "comment": "fine"})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, idp+"/v1/runs/"+runID+"/steps/approve/approve", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+clientToken(t, idp, "approver", "AJWT_APPROVER_SECRET"))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// clientToken is the client_credentials token of a client whose secret
// client-secrets.env holds under secretName (curl -u id:secret -d
// grant_type=client_credentials …/token).
func clientToken(t *testing.T, idp, id, secretName string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, idp+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret(t, secretName))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status, body := do(t, req); status != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("%s token: %d %s", id, status, body)
	}
	return tok.AccessToken
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	status, body := do(t, req)
	if status != http.StatusOK || json.Unmarshal([]byte(body), v) != nil {
		t.Fatalf("GET %s: %d %s", u, status, body)
	}
}

// secret reads one secret from client-secrets.env.
func secret(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("client-secrets.env")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+"="); ok {
			return v
		}
	}
	t.Fatalf("client-secrets.env has no %s", name)
	return ""
}

func loadAgent(t *testing.T, c *client.Client, id string, master []byte) *client.Agent {
	t.Helper()
	spec, err := specfile.Load(filepath.Join("agents", id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Agent(spec, client.DerivedKey(master))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyRegistration(t.Context()); err != nil {
		t.Fatal(err)
	}
	return a
}

func mustContain(t *testing.T, what, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Fatalf("%s: output lacks %q:\n%s", what, want, out)
	}
}
