// Command agent runs the two agents of the notes example (docs/GUIDE.md)
// with the ajwt Go SDK (package client): one run of the notes-edit
// workflow, in two halves around the human approval.
//
//	go run ./examples/notes/agent propose --note 1 --text "Buy oat milk"
//	    starts a run for user:alice; the reader lists the notes, reads
//	    note 1 and completes the `read` step; prints the run id.
//	(a person approves step `approve` of the run: GUIDE.md, step 5)
//	go run ./examples/notes/agent apply --run RUN
//	    the editor creates the new note, deletes note 1 and completes
//	    `write`. Before the approval the IdP refuses it its token.
//
// --misbehave makes each agent also try what it may not do; every attempt
// must be refused, and the program prints who refused it and why.
//
// The agents' decisions are plain Go code here; a real agent would call a
// model with the prompt Agent.Render fills in.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

const (
	workflowID = "notes-edit"
	usage      = `usage:
  agent propose --note ID --text TEXT [--user WHO] [flags]   start a run; the reader reviews note ID
  agent apply --run RUN [flags]                              the editor replaces the run's note
flags (both): --dir DIR --issuer URL --api URL --misbehave`
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

// settings are the flags both commands share.
type settings struct {
	dir, issuer, api string
	misbehave        bool
}

func (s *settings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.dir, "dir", "examples/notes", "folder with agents/, shim-master.key and client-secrets.env")
	fs.StringVar(&s.issuer, "issuer", "http://127.0.0.1:8420", "the IdP (ajwt serve)")
	fs.StringVar(&s.api, "api", "http://127.0.0.1:9000", "the notes API as agents reach it: the proxy")
	fs.BoolVar(&s.misbehave, "misbehave", false, "also try what the agent may not do (each attempt must be refused)")
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	var s settings
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	s.register(fs)
	switch args[0] {
	case "propose":
		note := fs.String("note", "", "id of the note to replace")
		text := fs.String("text", "", "the note's new text")
		user := fs.String("user", "user:alice", "the person the run is for (initiated_by)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return propose(ctx, &s, *note, *text, *user, out)
	case "apply":
		runID := fs.String("run", "", "the run id propose printed (RUN=…)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return apply(ctx, &s, *runID, out)
	}
	return errors.New(usage)
}

// propose starts a run and performs its `read` step as the reader.
func propose(ctx context.Context, s *settings, note, text, user string, out io.Writer) error {
	if note == "" || text == "" {
		return errors.New("propose needs --note and --text")
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	reader, err := s.agent(ctx, c, "reader")
	if err != nil {
		return err
	}
	// Render refuses a value outside the spec's pattern before any model
	// sees it (PROTOCOL.md §2.5): --note "1 OR 2" stops here.
	prompt, err := reader.Render(map[string]string{"note": note})
	if err != nil {
		return err
	}
	run, err := c.StartRun(ctx, workflowID, user, map[string]string{"note": note, "text": text})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "run %s started for %s: replace note %s with %q\n", run.ID, user, note, text)
	fmt.Fprintf(out, "reader: prompt ready (%d bytes)\n", len(prompt))
	if err := review(ctx, s, reader, run.ID, note, out); err != nil {
		// A run whose review failed must not go on to the approval.
		if rerr := c.RevokeRun(ctx, run.ID); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("%w (run %s revoked)", err, run.ID)
	}
	fmt.Fprintf(out, "\nRUN=%s\nnext: someone other than %s approves step \"approve\" (docs/GUIDE.md, step 5), then:\n"+
		"  go run ./examples/notes/agent apply --run $RUN\n", run.ID, user)
	return nil
}

// review is the `read` step: the reader lists the notes, reads the run's
// note and completes the step.
func review(ctx context.Context, s *settings, reader *client.Agent, runID, note string, out io.Writer) error {
	api := s.apiClient(reader.TokenSource(runID, "read"))
	var notes []json.RawMessage
	if err := call(ctx, api, http.MethodGet, s.api+"/notes", nil, &notes); err != nil {
		return fmt.Errorf("reader: GET /notes: %w", err)
	}
	var current struct{ Text string }
	if err := call(ctx, api, http.MethodGet, s.api+"/notes/"+note, nil, &current); err != nil {
		return fmt.Errorf("reader: GET /notes/%s: %w", note, err)
	}
	fmt.Fprintf(out, "reader: %d notes; note %s says %q\n", len(notes), note, current.Text)
	if s.misbehave {
		if err := readerMisbehaves(ctx, s, api, reader, runID, note, out); err != nil {
			return err
		}
	}
	done, err := reader.Complete(ctx, runID, "read")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "reader: step read completed; run steps: %s\n", steps(done))
	return nil
}

// apply performs the `write` step of an approved run as the editor.
func apply(ctx context.Context, s *settings, runID string, out io.Writer) error {
	if runID == "" {
		return errors.New("apply needs --run")
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	editor, err := s.agent(ctx, c, "editor")
	if err != nil {
		return err
	}
	// What to write comes from the run the IdP holds, which the approver
	// saw, not from this program's command line.
	run, err := c.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	note, text := run.ExecutionContext["note"], run.ExecutionContext["text"]
	fmt.Fprintf(out, "run %s (%s): replace note %s with %q; steps: %s\n", run.ID, run.InitiatedBy, note, text, steps(run))
	if _, err := editor.Render(map[string]string{"note": note}); err != nil {
		return err
	}
	api := s.apiClient(editor.TokenSource(run.ID, "write"))
	var created struct {
		ID        int    `json:"id"`
		CreatedBy string `json:"created_by"`
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	if err := call(ctx, api, http.MethodPost, s.api+"/notes", body, &created); err != nil {
		return fmt.Errorf("editor: POST /notes: %w", err)
	}
	fmt.Fprintf(out, "editor: created note %d (the API recorded created_by=%s)\n", created.ID, created.CreatedBy)
	if err := call(ctx, api, http.MethodDelete, s.api+"/notes/"+note, nil, nil); err != nil {
		return fmt.Errorf("editor: DELETE /notes/%s: %w", note, err)
	}
	fmt.Fprintf(out, "editor: deleted note %s\n", note)
	if s.misbehave {
		if err := editorMisbehaves(ctx, s, api, note, out); err != nil {
			return err
		}
	}
	done, err := editor.Complete(ctx, run.ID, "write")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "editor: step write completed; run %s; steps: %s\n", done.Status, steps(done))
	return nil
}

// readerMisbehaves tries, with the reader's `read` token, what the policy
// and the workflow forbid it.
func readerMisbehaves(ctx context.Context, s *settings, api *http.Client, reader *client.Agent, runID, note string, out io.Writer) error {
	fmt.Fprintln(out, "misbehaving reader (each attempt must be refused):")
	body, _ := json.Marshal(map[string]string{"text": "written by the reader"})
	attempts := []attempt{
		{"POST /notes with its read token", func() error { return call(ctx, api, http.MethodPost, s.api+"/notes", body, nil) }},
		{"GET /notes/" + otherNote(note) + " (not the run's note)", func() error {
			return call(ctx, api, http.MethodGet, s.api+"/notes/"+otherNote(note), nil, nil)
		}},
		{"a token for step write", func() error {
			_, err := reader.TokenSource(runID, "write").Token(ctx)
			var re *client.RetrieveError
			if errors.As(err, &re) {
				return idpRefusal(re)
			}
			return err
		}},
	}
	return tryAll(attempts, out)
}

// editorMisbehaves tries, with the editor's `write` token, what the
// policy forbids it.
func editorMisbehaves(ctx context.Context, s *settings, api *http.Client, note string, out io.Writer) error {
	fmt.Fprintln(out, "misbehaving editor (each attempt must be refused):")
	attempts := []attempt{
		{"DELETE /notes/" + note + " again (one_time route)", func() error {
			return call(ctx, api, http.MethodDelete, s.api+"/notes/"+note, nil, nil)
		}},
		{"DELETE /notes/" + otherNote(note) + " (not the run's note)", func() error {
			return call(ctx, api, http.MethodDelete, s.api+"/notes/"+otherNote(note), nil, nil)
		}},
		{"GET /notes with its write token", func() error { return call(ctx, api, http.MethodGet, s.api+"/notes", nil, nil) }},
	}
	return tryAll(attempts, out)
}

type attempt struct {
	what string
	do   func() error
}

// tryAll runs attempts that must fail, printing who refused each and why.
func tryAll(attempts []attempt, out io.Writer) error {
	for _, a := range attempts {
		err := a.do()
		if err == nil {
			return fmt.Errorf("%s was allowed", a.what)
		}
		fmt.Fprintf(out, "  %s: %v\n", a.what, err)
	}
	return nil
}

func otherNote(note string) string {
	n, _ := strconv.Atoi(note)
	return strconv.Itoa(n + 1)
}

func steps(run *client.Run) string {
	parts := make([]string, len(run.Steps))
	for i, st := range run.Steps {
		parts[i] = st.ID + "=" + st.State
	}
	return strings.Join(parts, " ")
}

// client is the app's connection to the IdP, with the app's secret.
func (s *settings) client(ctx context.Context) (*client.Client, error) {
	secrets, err := readEnv(filepath.Join(s.dir, "client-secrets.env"))
	if err != nil {
		return nil, err
	}
	return client.New(ctx, client.Config{Issuer: s.issuer, ClientID: "app", ClientSecret: secrets["AJWT_APP_SECRET"]})
}

// agent loads an agent's spec, derives its key from the master secret
// (PROTOCOL.md §3) and checks, before any work, that the IdP registered
// exactly this agent with exactly this key.
func (s *settings) agent(ctx context.Context, c *client.Client, id string) (*client.Agent, error) {
	master, err := keys.LoadMasterSecretFile(filepath.Join(s.dir, "shim-master.key"))
	if err != nil {
		return nil, err
	}
	spec, err := specfile.Load(filepath.Join(s.dir, "agents", id+".yaml"))
	if err != nil {
		return nil, err
	}
	a, err := c.Agent(spec, client.DerivedKey(master))
	if err != nil {
		return nil, err
	}
	if err := a.VerifyRegistration(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// apiClient sends every request with the source's intent token and a DPoP
// proof signed by the agent's key. The token's audience is the step's
// `audience` in ajwt.yaml, so the sources need no client.WithResource; with
// it, Agent.Complete would fetch a second token (it asks without one).
func (s *settings) apiClient(src client.TokenSource) *http.Client {
	return &http.Client{Transport: &client.Transport{Source: src}}
}

// refusal is an enforcer's answer to a request it refused (§8).
type refusal struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Reason      string `json:"reason"`
	Description string `json:"error_description"`
}

func (r *refusal) Error() string {
	return fmt.Sprintf("refused by the proxy: %d %s (%s): %s", r.Status, r.Code, r.Reason, r.Description)
}

// call sends one request to the API and decodes a 2xx JSON answer into
// result (when not nil). A token the IdP would not issue comes back as the
// SDK's *client.RetrieveError, an enforcer's refusal as a *refusal.
func call(ctx context.Context, api *http.Client, method, url string, body []byte, result any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := api.Do(req)
	if err != nil {
		var re *client.RetrieveError
		if errors.As(err, &re) {
			return idpRefusal(re)
		}
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		// Every refusal of the enforcer carries a reason (§8); anything
		// else is the API's own answer.
		r := &refusal{Status: res.StatusCode}
		if json.Unmarshal(data, r) != nil || r.Reason == "" {
			return fmt.Errorf("the API answered %d: %s", res.StatusCode, bytes.TrimSpace(data))
		}
		return r
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(data, result)
}

// idpRefusal words a token the IdP refused, with the steps still missing
// when there are some.
func idpRefusal(re *client.RetrieveError) error {
	msg := fmt.Sprintf("refused by the IdP: %d %v", re.StatusCode, re.Err)
	if missing, ok := re.Extra["missing_steps"]; ok {
		msg += fmt.Sprintf(" (missing_steps: %v)", missing)
	}
	return errors.New(msg)
}

// readEnv reads NAME=value lines, as client-secrets.env holds them.
func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = v
		}
	}
	return env, sc.Err()
}
