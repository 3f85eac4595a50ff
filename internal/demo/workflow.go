package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/protocol"
)

// Repo is the repository the demo patches.
const Repo = "acme/web"

// api makes JSON calls to one service as one agent.
type api struct {
	hc   *http.Client
	base string
}

// APIError is a refused call, with the enforcer's reason.
type APIError struct {
	Status int
	Code   string
	Reason string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d %s (%s)", e.Status, e.Code, e.Reason) }

func (a api) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		var e struct{ Error, Reason string }
		_ = json.Unmarshal(data, &e)
		return &APIError{Status: res.StatusCode, Code: e.Error, Reason: e.Reason}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// bearerTransport is legacy OAuth: the same app token on every call, and
// whatever agent name the caller claims.
type bearerTransport struct {
	token, agent string
	base         http.RoundTripper
}

func (t bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.Header.Set("Authorization", "Bearer "+t.token)
	out.Header.Set("X-Agent", t.agent)
	return t.base.RoundTrip(out)
}

// legacyToken is the app's one client_credentials token.
func (e *Env) legacyToken(ctx context.Context) (string, error) {
	return e.clientToken(ctx, "patch-app", appSecret, "")
}

func (e *Env) clientToken(ctx context.Context, id, secret, resource string) (string, error) {
	form := url.Values{"grant_type": {protocol.GrantClientCredentials}}
	if resource != "" {
		form.Set("resource", resource)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.IdPURL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	res, err := e.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("client_credentials for %s: %s", id, tok.Error)
	}
	return tok.AccessToken, nil
}

// as returns the forge and advisory APIs as agent executing step of run.
func (e *Env) as(ctx context.Context, agent, runID, step string, opts ...client.Option) (forge, osv api, err error) {
	if e.Mode == Legacy {
		tok, err := e.legacyToken(ctx)
		if err != nil {
			return api{}, api{}, err
		}
		hc := &http.Client{Transport: bearerTransport{token: tok, agent: agent, base: http.DefaultTransport}}
		return api{hc, e.ForgeURL}, api{hc, e.OSVURL}, nil
	}
	a := e.agents[agent]
	fopts := append([]client.Option{client.WithResource(ForgeResource)}, opts...)
	oopts := append([]client.Option{client.WithResource(OSVResource)}, opts...)
	forge = api{&http.Client{Transport: &client.Transport{Source: a.TokenSource(runID, step, fopts...)}}, e.ForgeURL}
	osv = api{&http.Client{Transport: &client.Transport{Source: a.TokenSource(runID, step, oopts...)}}, e.OSVURL}
	return forge, osv, nil
}

// Dep is one dependency of the repository.
type Dep struct{ Ecosystem, Name, Version string }

// Upgrade is what the planner decided for one dependency.
type Upgrade struct {
	Dep
	Fixed    string
	Advisory string
}

// classify lists the ecosystems of the repository (classifier).
func classify(ctx context.Context, forge api) ([]string, error) {
	var tree struct{ Paths []string }
	if err := forge.call(ctx, http.MethodGet, "/repos/"+Repo+"/tree", nil, &tree); err != nil {
		return nil, err
	}
	var eco []string
	for _, p := range tree.Paths {
		switch p {
		case "go.mod":
			eco = append(eco, "Go")
		case "package.json":
			eco = append(eco, "npm")
		}
	}
	return eco, nil
}

var goRequire = regexp.MustCompile(`(?m)^\s+(\S+)\s+v(\S+)$`)

// readDeps reads the manifests (planner).
func readDeps(ctx context.Context, forge api, ref string) ([]Dep, error) {
	var gomod, pkg struct{ Content string }
	if err := forge.call(ctx, http.MethodGet, "/repos/"+Repo+"/contents/go.mod?ref="+ref, nil, &gomod); err != nil {
		return nil, err
	}
	if err := forge.call(ctx, http.MethodGet, "/repos/"+Repo+"/contents/package.json?ref="+ref, nil, &pkg); err != nil {
		return nil, err
	}
	var deps []Dep
	for _, m := range goRequire.FindAllStringSubmatch(gomod.Content, -1) {
		deps = append(deps, Dep{"Go", m[1], m[2]})
	}
	var p struct{ Dependencies map[string]string }
	if err := json.Unmarshal([]byte(pkg.Content), &p); err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(p.Dependencies) {
		deps = append(deps, Dep{"npm", name, p.Dependencies[name]})
	}
	return deps, nil
}

// assess queries the advisory database and plans the smallest fixing
// upgrades (planner).
func assess(ctx context.Context, osv api, deps []Dep) ([]Upgrade, error) {
	var ups []Upgrade
	for _, d := range deps {
		var res struct {
			Vulns []struct{ ID, Fixed string }
		}
		q := map[string]any{"package": map[string]string{"name": d.Name, "ecosystem": d.Ecosystem}, "version": d.Version}
		if err := osv.call(ctx, http.MethodPost, "/v1/query", q, &res); err != nil {
			return nil, err
		}
		for _, v := range res.Vulns {
			ups = append(ups, Upgrade{Dep: d, Fixed: v.Fixed, Advisory: v.ID})
		}
	}
	return ups, nil
}

// patch applies the upgrades on a branch, opens a pull request and merges
// it (patcher). It returns the pull request number.
func patch(ctx context.Context, forge api, ups []Upgrade) (int, error) {
	const branch = "ajwt/fix-vulnerable-deps"
	if err := forge.call(ctx, http.MethodPost, "/repos/"+Repo+"/branches", map[string]string{"name": branch, "from": "main"}, nil); err != nil {
		return 0, err
	}
	for _, file := range []string{"go.mod", "package.json"} {
		var f struct{ Content string }
		if err := forge.call(ctx, http.MethodGet, "/repos/"+Repo+"/contents/"+file+"?ref="+branch, nil, &f); err != nil {
			return 0, err
		}
		content := applyUpgrades(file, f.Content, ups)
		body := map[string]string{"branch": branch, "content": content, "message": "Upgrade vulnerable dependencies"}
		if err := forge.call(ctx, http.MethodPut, "/repos/"+Repo+"/contents/"+file, body, nil); err != nil {
			return 0, err
		}
	}
	var pr struct{ Number int }
	if err := forge.call(ctx, http.MethodPost, "/repos/"+Repo+"/pulls", map[string]string{"title": "Fix vulnerable dependencies", "head": branch, "base": "main"}, &pr); err != nil {
		return 0, err
	}
	return pr.Number, forge.call(ctx, http.MethodPut, fmt.Sprintf("/repos/%s/pulls/%d/merge", Repo, pr.Number), nil, nil)
}

func applyUpgrades(file, content string, ups []Upgrade) string {
	for _, u := range ups {
		switch {
		case file == "go.mod" && u.Ecosystem == "Go":
			content = strings.Replace(content, u.Name+" v"+u.Version, u.Name+" v"+u.Fixed, 1)
		case file == "package.json" && u.Ecosystem == "npm":
			content = strings.Replace(content, `"`+u.Name+`": "`+u.Version+`"`, `"`+u.Name+`": "`+u.Fixed+`"`, 1)
		}
	}
	return content
}

// verify reads main again and checks every upgrade landed (classifier).
func verify(ctx context.Context, forge api, ups []Upgrade) error {
	deps, err := readDeps(ctx, forge, "main")
	if err != nil {
		return err
	}
	for _, u := range ups {
		for _, d := range deps {
			if d.Name == u.Name && versionLess(d.Version, u.Fixed) {
				return fmt.Errorf("%s is still %s on main", d.Name, d.Version)
			}
		}
	}
	return nil
}

func decodeBody(res *http.Response, v any) error {
	return json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(v)
}
