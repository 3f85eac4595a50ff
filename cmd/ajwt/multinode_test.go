package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
)

// cluster is two IdP processes and two proxy processes on one PostgreSQL
// schema and one Redis, with a round-robin balancer as the issuer URL.
type cluster struct {
	t        *testing.T
	issuer   string // the balancer
	idps     []*proc
	proxies  []*proc
	public   string // the proxies' public URL (both are replicas of it)
	upstream *httptest.Server
	dsn      string // the shared PostgreSQL schema
}

type proc struct {
	cmd  *exec.Cmd
	addr string
	dead atomic.Bool
}

func requireServices(t *testing.T) (string, string) {
	pg, rd := os.Getenv("AJWT_TEST_POSTGRES"), os.Getenv("AJWT_TEST_REDIS")
	if pg == "" || rd == "" {
		t.Skip("SKIPPED: AJWT_TEST_POSTGRES and AJWT_TEST_REDIS are required; the multi-node test did NOT run")
	}
	return pg, rd
}

// freshSchema creates a schema for this test and returns a DSN using it.
func freshSchema(t *testing.T, dsn string) string {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "ajwt_mn_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP SCHEMA " + schema + " CASCADE"); db.Close() })
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func startProc(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	return startProcAt(t, dir, name, freeAddr(t), args...)
}

func waitHTTP(t *testing.T, u string, dir, name string) {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(u); err == nil {
			res.Body.Close()
			if res.StatusCode < 500 {
				return
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
	t.Fatalf("%s did not come up:\n%s", name, log)
}

// balancer alternates requests between live backends.
func balancer(t *testing.T, backends []*proc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	lb := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		for range len(backends) {
			b := backends[n.Add(1)%int64(len(backends))]
			if b.dead.Load() {
				continue
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			target, _ := url.Parse("http://" + b.addr)
			rp := httputil.NewSingleHostReverseProxy(target)
			rp.Rewrite = func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.Out.Host = pr.In.Host }
			rp.Director = nil
			rp.ServeHTTP(w, r)
			return
		}
		http.Error(w, "no backend", http.StatusBadGateway)
	}))
	return lb, &n
}

const mnConfig = `issuer: ISSUER
token_ttl: 120s
failed_grants_per_minute: 1000
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: app, client_secret: app-secret, scopes: [ajwt:run, repo:read]}
  - {client_id: approver, client_secret: approver-secret, scopes: [ajwt:approve]}
  - {client_id: loader, client_secret: loader-secret, scopes: [repo:read]}
`

const mnPolicy = `issuer: ISSUER
resource: https://forge.example
public_url: PUBLIC
routes:
  - match: {method: GET, path: "/repos/{owner}/{repo}"}
    scopes: [repo:read]
    context: {repo: "{owner}/{repo}"}
default: deny
`

func startCluster(t *testing.T) *cluster {
	pg, rd := requireServices(t)
	dsn := freshSchema(t, pg)
	dir := t.TempDir()
	c := &cluster{t: t, dsn: dsn}
	// The balancer's address is the issuer; it is known before the nodes start.
	c.idps = []*proc{{addr: freeAddr(t)}, {addr: freeAddr(t)}}
	lb, _ := balancer(t, c.idps)
	lb.Start()
	t.Cleanup(lb.Close)
	c.issuer = lb.URL
	cfg := filepath.Join(dir, "ajwt.yaml")
	os.WriteFile(cfg, []byte(strings.ReplaceAll(mnConfig, "ISSUER", c.issuer)), 0o600)
	kek := filepath.Join(dir, "kek")
	os.WriteFile(kek, []byte(strings.Repeat("4b", 32)), 0o600)
	for i := range c.idps {
		addr := c.idps[i].addr
		p := startProcAt(t, dir, "idp"+string(rune('a'+i)), addr, "serve", "--config", cfg, "--store", dsn, "--redis", rd, "--kek-file", kek)
		c.idps[i] = p
		waitHTTP(t, "http://"+addr+"/readyz", dir, "idp"+string(rune('a'+i)))
	}
	c.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "repo") }))
	t.Cleanup(c.upstream.Close)
	c.public = "http://" + freeAddr(t) // a URL only used as htu: both proxies are replicas of it
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(strings.NewReplacer("ISSUER", c.issuer, "PUBLIC", c.public).Replace(mnPolicy)), 0o600)
	for i := range 2 {
		p := startProc(t, dir, "proxy"+string(rune('a'+i)), "proxy", "--policy", pol, "--upstream", c.upstream.URL, "--redis", rd)
		c.proxies = append(c.proxies, p)
		waitHTTP(t, "http://"+p.addr+"/metrics", dir, "proxy"+string(rune('a'+i)))
	}
	return c
}

func startProcAt(t *testing.T, dir, name, addr string, args ...string) *proc {
	t.Helper()
	p := &proc{addr: addr}
	cmd := exec.Command(os.Args[0], append(args, "--addr", addr)...)
	cmd.Env = append(os.Environ(), "AJWT_MAIN=1")
	log, _ := os.Create(filepath.Join(dir, name+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return p
}

var mnMaster = []byte("multi-node test master secret, 32+ bytes")

func (c *cluster) setup(ctx context.Context) (*client.Client, map[string]*client.Agent) {
	t := c.t
	app, err := client.New(ctx, client.Config{Issuer: c.issuer, ClientID: "app", ClientSecret: "app-secret"})
	if err != nil {
		t.Fatal(err)
	}
	admin := "Bearer " + mustClientToken(t, c.issuer, "admin", "admin-secret")
	agents := map[string]*client.Agent{}
	for _, id := range []string{"a1", "a2"} {
		spec := &agentspec.Spec{AgentID: id, PromptTemplate: "Agent " + id + "."}
		sum, _ := agentspec.Sum(spec)
		priv, _ := keys.DeriveAgentKey(mnMaster, id, string(sum))
		s, _ := keys.NewSigner(priv, keys.EdDSA, "")
		body, _ := json.Marshal(map[string]any{"client_id": "app", "spec": spec, "public_jwk": s.Public(), "scopes": []string{"repo:read"},
			"audiences": []string{"https://forge.example"}})
		callJSON(t, http.MethodPut, c.issuer+"/v1/agents/"+id, admin, string(body))
		agents[id], _ = app.Agent(spec, client.DerivedKey(mnMaster))
	}
	callJSON(t, http.MethodPut, c.issuer+"/v1/workflows/wf", admin, `{"steps":[
	  {"id":"s1","agent":"a1","scopes":["repo:read"],"audience":"https://forge.example"},
	  {"id":"s2","agent":"a2","scopes":["repo:read"],"audience":"https://forge.example","depends_on":["s1"]},
	  {"id":"s3","agent":"a1","scopes":["repo:read"],"audience":"https://forge.example","depends_on":["s2"]},
	  {"id":"s4","agent":"a2","scopes":["repo:read"],"audience":"https://forge.example","depends_on":["s3"]}]}`)
	return app, agents
}

// callJSON sends one admin API request that must succeed and returns the
// response body.
func callJSON(t *testing.T, method, u, auth, body string) []byte {
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, u, res.StatusCode, raw)
	}
	return raw
}

// TestMultiNode: 2 IdPs + 2 proxies on one PostgreSQL and one Redis.
func TestMultiNode(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	app, agents := c.setup(ctx)
	run, err := app.StartRun(ctx, "wf", "user:alice", map[string]string{"repo": "acme/web"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("run advanced alternately through both IdPs", func(t *testing.T) {
		if _, err := agents["a1"].Complete(ctx, run.ID, "s1"); err != nil {
			t.Fatal(err)
		}
		if _, err := agents["a2"].Complete(ctx, run.ID, "s2"); err != nil {
			t.Fatal(err)
		}
	})

	tok, err := agents["a1"].TokenSource(run.ID, "s3", client.WithResource("https://forge.example")).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := derivedSigner(t, "a1")

	t.Run("proof replayed against the other proxy", func(t *testing.T) {
		proof, _ := dpop.NewProof(key, http.MethodGet, c.public+"/repos/acme/web", dpop.ProofOptions{AccessToken: tok.AccessToken})
		if code, body := sendVia(t, c.proxies[0].addr, tok.AccessToken, proof); code != 200 {
			t.Fatalf("first use at proxy A: %d %s", code, body)
		}
		code, body := sendVia(t, c.proxies[1].addr, tok.AccessToken, proof)
		if code != 401 || !strings.Contains(body, "replayed_proof") {
			t.Fatalf("replay at proxy B: %d %s", code, body)
		}
	})

	t.Run("both IdPs race to complete one step", func(t *testing.T) {
		path := "/v1/runs/" + run.ID + "/steps/s3/complete"
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				proof, _ := dpop.NewProof(key, http.MethodPost, c.issuer+path, dpop.ProofOptions{AccessToken: tok.AccessToken})
				req, _ := http.NewRequest(http.MethodPost, "http://"+c.idps[i%2].addr+path, nil)
				req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
				req.Header.Set("DPoP", proof)
				if res, err := http.DefaultClient.Do(req); err == nil {
					if res.StatusCode == 200 {
						wins.Add(1)
					}
					res.Body.Close()
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d completions succeeded, want exactly 1", wins.Load())
		}
	})

	t.Run("one IdP killed with SIGKILL mid-run; the other finishes it", func(t *testing.T) {
		if err := c.idps[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.idps[0].cmd.Process.Wait()
		c.idps[0].dead.Store(true)
		done, err := agents["a2"].Complete(ctx, run.ID, "s4")
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != "completed" {
			t.Fatalf("run %+v", done)
		}
		for _, s := range done.Steps {
			if s.State != "completed" {
				t.Fatalf("step %s lost its state: %+v", s.ID, done.Steps)
			}
		}
	})

	t.Run("audit of both IdPs, the killed one included, is one intact chain", func(t *testing.T) {
		// Grants go on while it verifies: entries chained meanwhile are no tampering.
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
					// its own client: its rate bucket is nobody else's
					tryClientToken("http://"+c.idps[1].addr, "loader", "loader-secret")
					time.Sleep(time.Millisecond)
				}
			}
		}()
		out, errOut, code := ajwt(t, "", "audit", "verify", "--store", c.dsn, "--json")
		close(stop)
		<-done
		if code != 0 || !strings.Contains(out, `"ok": true`) {
			t.Fatalf("audit verify: %d %s %s", code, out, errOut)
		}
		var page struct {
			Entries []struct{ Event, Step string } `json:"entries"`
		}
		admin := "Bearer " + mustClientToken(t, "http://"+c.idps[1].addr, "admin", "admin-secret")
		if err := json.Unmarshal(callJSON(t, http.MethodGet, "http://"+c.idps[1].addr+"/v1/audit?run_id="+run.ID, admin, ""), &page); err != nil {
			t.Fatal(err)
		}
		completed := map[string]bool{}
		for _, e := range page.Entries {
			if e.Event != "grant" && e.Step != "" {
				completed[e.Step] = true
			}
		}
		for _, s := range []string{"s1", "s2", "s3", "s4"} {
			if !completed[s] {
				t.Errorf("no completion of %s in the run's audit: %+v", s, page.Entries)
			}
		}
	})

	t.Run("revocation on one IdP refused at the other proxy", func(t *testing.T) {
		run2, err := app.StartRun(ctx, "wf", "user:alice", map[string]string{"repo": "acme/web"})
		if err != nil {
			t.Fatal(err)
		}
		tok2, err := agents["a1"].TokenSource(run2.ID, "s1", client.WithResource("https://forge.example")).Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		admin := "Bearer " + mustClientToken(t, "http://"+c.idps[1].addr, "admin", "admin-secret")
		callJSON(t, http.MethodPost, "http://"+c.idps[1].addr+"/v1/agents/a1/revoke", admin, "")
		start := time.Now()
		for {
			proof, _ := dpop.NewProof(key, http.MethodGet, c.public+"/repos/acme/web", dpop.ProofOptions{AccessToken: tok2.AccessToken})
			code, body := sendVia(t, c.proxies[0].addr, tok2.AccessToken, proof)
			if code == 401 && strings.Contains(body, "agent_revoked") {
				t.Logf("refused at the proxy %s after the revocation", time.Since(start).Round(time.Millisecond))
				return
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("still %d %s two seconds after the revocation", code, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func derivedSigner(t *testing.T, id string) *keys.Signer {
	spec := &agentspec.Spec{AgentID: id, PromptTemplate: "Agent " + id + "."}
	sum, _ := agentspec.Sum(spec)
	priv, err := keys.DeriveAgentKey(mnMaster, id, string(sum))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := keys.NewSigner(priv, keys.EdDSA, "")
	return s
}

func sendVia(t *testing.T, addr, tok, proof string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/repos/acme/web", nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
