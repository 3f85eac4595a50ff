// Package console is the operators' web console of the authorization
// server: approvals, runs, agents and the audit log, served under
// /console by `ajwt serve`. Pages are rendered on the server with
// html/template; the few lines of JavaScript only refresh the live parts
// of a page, and every action is a plain form.
package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/protocol"
)

// Prefix is where the console is served.
const Prefix = "/console"

const (
	cookieName      = "ajwt_console"
	loginCookieName = "ajwt_console_login" // the login form's CSRF token (double submit)
	maxSessions     = 10_000
	maxFormBytes    = 16 << 10
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options are the console's dependencies; zero values are defaults.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
}

// Console serves the operator pages of one authorization server.
type Console struct {
	srv      *authserver.Server
	log      *slog.Logger
	now      func() time.Time
	sessions *sessions
	pages    map[string]*template.Template
	secure   bool   // cookies only over https: the issuer is https
	origin   string // the issuer's origin, which every POST must come from
	handler  http.Handler
}

// New builds the console of srv.
func New(srv *authserver.Server, opts Options) (*Console, error) {
	c := &Console{srv: srv, log: opts.Logger, now: opts.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	iss, err := url.Parse(srv.Issuer())
	if err != nil {
		return nil, err
	}
	c.secure, c.origin = iss.Scheme == "https", iss.Scheme+"://"+iss.Host
	cfg := srv.ConsoleConfig()
	c.sessions = newSessions(cfg.IdleTimeout, cfg.MaxSession, maxSessions, c.now)
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.handler = c.routes()
	return c, nil
}

// Mount serves the console under /console and everything else with api.
func Mount(c *Console, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Prefix || strings.HasPrefix(r.URL.Path, Prefix+"/") {
			c.handler.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the console's paths.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	page := func(pattern string, h func(http.ResponseWriter, *http.Request, *viewer) error) {
		mux.Handle(pattern, c.authenticated(h))
	}
	page("POST /console/logout", c.logout)
	page("GET /console/{$}", func(w http.ResponseWriter, r *http.Request, _ *viewer) error {
		http.Redirect(w, r, "/console/inbox", http.StatusSeeOther)
		return nil
	})
	page("GET /console/inbox", c.inbox)
	page("GET /console/runs", c.runs)
	page("GET /console/runs/{run}", c.run)
	page("POST /console/runs/{run}/steps/{step}/approve", c.approve)
	page("POST /console/runs/{run}/steps/{step}/deny", c.deny)
	page("GET /console/agents", c.agents)
	page("GET /console/agents/{agent}", c.agent)
	page("POST /console/agents/{agent}/revoke", c.revokeAgent)
	page("GET /console/audit", c.audit)
	mux.HandleFunc("/console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/inbox", http.StatusSeeOther)
	})
	return securityHeaders(mux)
}

// securityHeaders: nothing here may be framed, cached, sent as a referrer
// or run a script or style from anywhere but the console itself.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes browsers send Origin: null on the console's own POSTs
		if !strings.HasPrefix(r.URL.Path, "/console/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// viewer is the operator a request comes from, with its session.
type viewer struct {
	op      *authserver.Operator
	csrf    string
	cookie  string
	expires time.Time
}

func (v *viewer) Username() string { return v.op.Username }
func (v *viewer) CSRF() string     { return v.csrf }
func (v *viewer) Can(role string) bool {
	return v.op.Can(role)
}

// authenticated runs h for a logged-in operator; a POST must also carry
// the session's CSRF token and come from the console's own origin.
func (c *Console) authenticated(h func(http.ResponseWriter, *http.Request, *viewer) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, _ := r.Cookie(cookieName)
		var id string
		if ck != nil {
			id = ck.Value
		}
		se, ok := c.sessions.get(id, r.URL.Query().Get("part") != "live")
		op := c.srv.OperatorNamed(se.username)
		if !ok || op == nil {
			if r.Method == http.MethodGet && r.URL.Query().Get("part") == "" {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, nil, http.StatusUnauthorized, "Your session has ended. Log in again.")
			return
		}
		v := &viewer{op: op, csrf: se.csrf, cookie: id}
		if r.Method == http.MethodPost {
			if err := c.checkPost(w, r, se.csrf); err != nil {
				c.fail(w, r, v, http.StatusForbidden, err.Error())
				return
			}
		}
		if err := h(w, r, v); err != nil {
			c.failErr(w, r, v, err)
		}
	})
}

// checkPost parses a form (bounded) and checks its CSRF token and origin.
func (c *Console) checkPost(w http.ResponseWriter, r *http.Request, want string) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return errors.New("the form could not be read")
	}
	if !c.sameOrigin(r) || !sameToken(r.PostForm.Get("csrf"), want) {
		return errors.New("this form is stale or did not come from the console (CSRF check failed); reload the page and try again")
	}
	return nil
}

// sameOrigin accepts a POST whose Origin (or, without one, Referer) is the
// issuer's or the request's own host; browsers send Origin on every POST.
func (c *Console) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser, or a very old one: the CSRF token decides
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return o == c.origin || o == scheme+"://"+r.Host
}

func (c *Console) failErr(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	status, wire := protocol.Wire(err)
	msg := wire.Description
	switch {
	case status >= 500:
		c.log.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "err", err)
		msg = "The server could not do this now; try again."
	case msg == "":
		msg = wire.Error
	}
	if wire.Reason != "" {
		msg += " (" + wire.Reason + ")"
	}
	c.fail(w, r, v, status, msg)
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	c.render(w, r, status, "error", v, map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": msg})
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *viewer, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Viewer"] = v
	data["Page"] = name
	tmpl := c.pages[name]
	exec := "layout"
	if r.URL.Query().Get("part") == "live" {
		exec = "live"
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, exec, data); err != nil {
		c.log.ErrorContext(r.Context(), "console template failed", "page", name, "err", err)
		http.Error(w, "console page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
