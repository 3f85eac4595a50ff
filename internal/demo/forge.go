package demo

import (
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

//go:embed fixtures
var fixtures embed.FS

// Forge is a GitHub-like API subset over in-memory repositories: tree,
// contents, branches, commits, pull requests, merge. It does no
// authentication of its own: in ajwt mode the proxy stands in front of it,
// in legacy mode a bearer-token check does.
type Forge struct {
	mu     sync.Mutex
	repos  map[string]*repo
	events []Event
}

// Event is a change the forge made, with who the caller said it was.
type Event struct {
	Action      string `json:"action"`
	Repo        string `json:"repo"`
	Detail      string `json:"detail"`
	Agent       string `json:"agent"`        // Ajwt-Agent (ajwt) or X-Agent (legacy)
	InitiatedBy string `json:"initiated_by"` // Ajwt-Initiated-By
}

type repo struct {
	branches map[string]map[string]string // branch → path → content
	pulls    []*pull
}

type pull struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
	Head   string `json:"head"`
	Base   string `json:"base"`
	State  string `json:"state"`
}

// NewForge holds acme/web (vulnerable) and acme/api (a second repository
// that no run of the demo is about).
func NewForge() (*Forge, error) {
	files := map[string]string{}
	err := fs.WalkDir(fixtures, "fixtures/repo", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fixtures.ReadFile(p)
		// Stored as *.fixture: a go.mod or .go file would make the folder
		// a module or package of its own.
		files[strings.TrimSuffix(p[len("fixtures/repo/"):], ".fixture")] = string(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	f := &Forge{repos: map[string]*repo{}}
	for _, name := range []string{"acme/web", "acme/api"} {
		main := map[string]string{}
		for k, v := range files {
			main[k] = v
		}
		f.repos[name] = &repo{branches: map[string]map[string]string{"main": main}}
	}
	return f, nil
}

// Events returns the changes made so far.
func (f *Forge) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// Merged reports whether repo has a merged pull request.
func (f *Forge) Merged(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.repos[name].pulls {
		if p.State == "merged" {
			return true
		}
	}
	return false
}

// File returns a file of a repository's main branch.
func (f *Forge) File(name, path string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.repos[name].branches["main"][path]
}

// Handler serves the API.
func (f *Forge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/{owner}/{repo}/tree", f.withRepo(f.tree))
	mux.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", f.withRepo(f.getFile))
	mux.HandleFunc("PUT /repos/{owner}/{repo}/contents/{path...}", f.withRepo(f.putFile))
	mux.HandleFunc("POST /repos/{owner}/{repo}/branches", f.withRepo(f.branch))
	mux.HandleFunc("POST /repos/{owner}/{repo}/pulls", f.withRepo(f.openPull))
	mux.HandleFunc("PUT /repos/{owner}/{repo}/pulls/{n}/merge", f.withRepo(f.merge))
	mux.HandleFunc("DELETE /repos/{owner}/{repo}", f.withRepo(f.deleteRepo))
	return mux
}

type repoHandler func(w http.ResponseWriter, r *http.Request, rp *repo, name string)

// withRepo serialises handlers on the forge's state and finds the repository
// of the path.
func (f *Forge) withRepo(h repoHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		name := r.PathValue("owner") + "/" + r.PathValue("repo")
		rp := f.repos[name]
		if rp == nil {
			reply(w, http.StatusNotFound, map[string]string{"error": "not_found"})
			return
		}
		h(w, r, rp, name)
	}
}

func (f *Forge) record(r *http.Request, action, repo, detail string) {
	agent := r.Header.Get("Ajwt-Agent")
	if agent == "" {
		agent = r.Header.Get("X-Agent")
	}
	f.events = append(f.events, Event{Action: action, Repo: repo, Detail: detail, Agent: agent, InitiatedBy: r.Header.Get("Ajwt-Initiated-By")})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(r *http.Request, v any) bool {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v) == nil
}

func ref(r *http.Request) string {
	if b := r.URL.Query().Get("ref"); b != "" {
		return b
	}
	return "main"
}

func (f *Forge) tree(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	var paths []string
	for p := range rp.branches[ref(r)] {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	reply(w, http.StatusOK, map[string]any{"ref": ref(r), "paths": paths})
}

func (f *Forge) getFile(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	content, found := rp.branches[ref(r)][r.PathValue("path")]
	if !found {
		reply(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	reply(w, http.StatusOK, map[string]string{"path": r.PathValue("path"), "content": content})
}

func (f *Forge) putFile(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	var body struct{ Branch, Content, Message string }
	if !decode(r, &body) {
		reply(w, http.StatusBadRequest, map[string]string{"error": "bad_json"})
		return
	}
	files := rp.branches[body.Branch]
	if files == nil || body.Branch == "main" {
		reply(w, http.StatusUnprocessableEntity, map[string]string{"error": "commit to an existing non-default branch"})
		return
	}
	files[r.PathValue("path")] = body.Content
	f.record(r, "commit", name, body.Branch+":"+r.PathValue("path"))
	reply(w, http.StatusOK, map[string]string{"branch": body.Branch, "path": r.PathValue("path")})
}

func (f *Forge) branch(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	var body struct{ Name, From string }
	if !decode(r, &body) || body.Name == "" {
		reply(w, http.StatusBadRequest, map[string]string{"error": "bad_json"})
		return
	}
	src := rp.branches[defaultTo(body.From, "main")]
	files := make(map[string]string, len(src))
	for k, v := range src {
		files[k] = v
	}
	rp.branches[body.Name] = files
	f.record(r, "branch", name, body.Name)
	reply(w, http.StatusCreated, map[string]string{"name": body.Name})
}

func defaultTo(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (f *Forge) openPull(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	var body struct{ Title, Head, Base string }
	if !decode(r, &body) || body.Head == "" {
		reply(w, http.StatusBadRequest, map[string]string{"error": "bad_json"})
		return
	}
	p := &pull{Number: len(rp.pulls) + 1, Title: body.Title, Head: body.Head, Base: defaultTo(body.Base, "main"), State: "open"}
	rp.pulls = append(rp.pulls, p)
	f.record(r, "pull_request", name, "#"+strconv.Itoa(p.Number)+" "+p.Title)
	reply(w, http.StatusCreated, p)
}

func (f *Forge) merge(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > len(rp.pulls) || rp.pulls[n-1].State != "open" {
		reply(w, http.StatusUnprocessableEntity, map[string]string{"error": "no open pull request " + r.PathValue("n")})
		return
	}
	p := rp.pulls[n-1]
	for k, v := range rp.branches[p.Head] {
		rp.branches[p.Base][k] = v
	}
	p.State = "merged"
	f.record(r, "merge", name, "#"+strconv.Itoa(n))
	reply(w, http.StatusOK, p)
}

func (f *Forge) deleteRepo(w http.ResponseWriter, r *http.Request, rp *repo, name string) {
	f.record(r, "delete_repository", name, "")
	reply(w, http.StatusOK, map[string]string{"deleted": name})
}
