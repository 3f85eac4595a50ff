package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestConsoleHTTP checks what a browser cannot show: headers, cookie
// attributes and refusals of requests no page makes.
func TestConsoleHTTP(t *testing.T) {
	w := startWorld(t)
	base := w.env.IdPURL
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(body)
	}
	post := func(path string, form url.Values, origin string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(body)
	}
	csrfRE := regexp.MustCompile(`name="csrf" value="([^"]+)"`)

	res, _ := get("/console/runs")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/login?next=") {
		t.Fatalf("anonymous runs page: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := post("/console/runs/x/steps/approve/approve", url.Values{}, ""); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous POST: %d", res.StatusCode)
	}
	res, page := get("/console/login")
	for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if res.Header.Get(h) != want {
			t.Errorf("%s: %q, want %q", h, res.Header.Get(h), want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	token := csrfRE.FindStringSubmatch(page)[1]
	login := url.Values{"csrf": {token}, "username": {"alice"}, "password": {testPassword}, "next": {"/console/runs"}}
	for _, bad := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"forged login token", url.Values{"csrf": {"forged"}, "username": {"alice"}, "password": {testPassword}}, ""},
		{"another site's form", login, "https://evil.example"},
	} {
		if res, _ := post("/console/login", bad.form, bad.origin); res.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %d", bad.name, res.StatusCode)
		}
		_, page = get("/console/login")
		login.Set("csrf", csrfRE.FindStringSubmatch(page)[1])
	}
	res, _ = post("/console/login", login, base)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/runs" {
		t.Fatalf("login: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "ajwt_console" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/console" || session.Secure {
		t.Fatalf("session cookie %+v (http issuer: not Secure)", session)
	}
	_, page = get("/console/inbox")
	if strings.Contains(page, testPassword) || strings.Contains(page, session.Value) {
		t.Fatal("a secret is rendered in the page")
	}
	csrf := csrfRE.FindStringSubmatch(page)[1]
	res, body := post("/console/runs/"+w.wait+"/steps/approve/approve", url.Values{"csrf": {csrf}, "comment": {"ok"}}, "https://evil.example")
	if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("cross-site approval: %d", res.StatusCode)
	}
	res, _ = get("/console/runs?age=forever")
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad filter: %d", res.StatusCode)
	}
	res, _ = get("/console/runs/no-such-run")
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("missing run: %d", res.StatusCode)
	}
}
