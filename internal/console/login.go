package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ajwt/ajwt/internal/authserver"
)

// loginPage shows the form with a fresh login CSRF token, set as a cookie
// and echoed in the form (double submit): a login forced on the operator
// by another site's form is refused.
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	token := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookieName, Value: token, Path: Prefix + "/login", HttpOnly: true,
		Secure: c.secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	c.render(w, r, status, "login", nil, map[string]any{"CSRF": token, "Next": safeNext(r.FormValue("next")), "Message": msg})
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.showLogin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	ck, _ := r.Cookie(loginCookieName)
	if ck == nil || !c.sameOrigin(r) || !sameToken(r.PostForm.Get("csrf"), ck.Value) {
		c.showLogin(w, r, http.StatusForbidden, "This login form is stale or did not come from the console (CSRF check failed). Try again.")
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	op, err := c.srv.LoginOperator(r.Context(), username, r.PostForm.Get("password"), clientAddr(r))
	switch {
	case errors.Is(err, authserver.ErrLoginFailed):
		c.showLogin(w, r, http.StatusUnauthorized, "Wrong username or password.")
		return
	case err != nil:
		c.showLogin(w, r, http.StatusTooManyRequests, "Too many attempts; wait a minute and try again.")
		return
	}
	id, err := c.sessions.start(op.Username)
	if err != nil {
		c.showLogin(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookieName, Value: "", Path: Prefix + "/login", MaxAge: -1, HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, c.sessionCookie(id, 0))
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (c *Console) sessionCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: Prefix, HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge}
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, v *viewer) error {
	c.sessions.end(v.cookie)
	c.srv.AuditLogout(r.Context(), v.op, "logout")
	http.SetCookie(w, c.sessionCookie("", -1))
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect inside the console: never another
// host, never a scheme-relative "//evil".
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/inbox"
	}
	return next
}
