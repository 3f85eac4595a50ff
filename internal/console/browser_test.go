package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/demo"
)

const testPassword = "console test password"

// chromium finds Debian's Chromium (scripts/browser-deps.sh installs it).
// Without it the browser tests skip, except under CI, where they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("AJWT_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/browser-deps.sh installs it); CI needs the browser tests")
	}
	t.Skip("warning: chromium not installed; browser tests skipped (run scripts/browser-deps.sh)")
	return ""
}

// artifacts is where screenshots go: $AJWT_ARTIFACTS, or a temporary
// directory named in the test log.
func artifacts(t *testing.T) string {
	dir := os.Getenv("AJWT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ajwt-console-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	shot string // artifacts directory
}

func newBrowser(t *testing.T, base string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chromium(t)), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, which lives as long as its
	// context: no deadline on this one.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: base, shot: artifacts(t)}
}

// on is the browser reporting failures to t (a subtest).
func (b *browser) on(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}

// get runs one action with a deadline and returns its value, failing the
// test with what it did.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// do runs actions in order with a deadline.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	get(b, what, chromedp.Steps(actions...))
}

// script runs JavaScript for its effect; it must end with a value.
func script(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool]("(function(){"+js+"; return true})()")(ctx, t)
		return chromedp.Void{}, err
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return get(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := get(b, "screenshot", chromedp.FullScreenshot(100))
	path := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

func (b *browser) login(user, password string) {
	b.t.Helper()
	b.do("log in as "+user, chromedp.Navigate(b.base+"/console/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#operator, #login-error")))
}

// submit sets the comment of the decision form of run and presses button
// (approve or deny), after an optional script run on the page (to tamper).
func (b *browser) submit(run, button, tamper string) {
	b.t.Helper()
	form := fmt.Sprintf(`[data-run=%q] form.decide`, run)
	actions := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS(form)),
		chromedp.SendKeys(chromedp.CSS(form+" textarea"), "checked by the browser test")}
	if tamper != "" {
		actions = append(actions, script(tamper))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(form+" button."+button)), chromedp.WaitVisible(chromedp.CSS("#run-live, #error-message")))
	b.do(button+" "+run, actions...)
}

type world struct {
	env                      *demo.Env
	done, wait, self, denied string
}

func startWorld(t *testing.T) *world {
	hash, err := authserver.HashSecret(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	ops := []authserver.OperatorConfig{
		{Username: "alice", PasswordHash: hash, Roles: []string{authserver.RoleApprover}},
		{Username: "vera", PasswordHash: hash, Roles: []string{authserver.RoleViewer}},
		{Username: "adam", PasswordHash: hash, Roles: []string{authserver.RoleAdmin}},
	}
	ctx := t.Context()
	env, err := demo.StartWith(ctx, demo.AJWT, t.TempDir(), demo.Setup{Operators: ops})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	quiet := func(string, ...any) {}
	out, err := env.RunWorkflow(ctx, quiet)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{env: env, done: out.RunID}
	for _, r := range []struct {
		id        *string
		initiator string
	}{{&w.wait, "user:carol"}, {&w.self, "user:alice"}, {&w.denied, "user:dave"}} {
		if *r.id, err = env.StartWaitingRun(ctx, r.initiator, quiet); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func TestConsoleInBrowser(t *testing.T) {
	w := startWorld(t)
	b := newBrowser(t, w.env.IdPURL)

	t.Run("wrong password", func(t *testing.T) {
		b := b.on(t)
		b.login("alice", "not the password")
		if got := b.text("#login-error"); !strings.Contains(got, "Wrong username or password") {
			t.Fatalf("login error %q", got)
		}
	})
	b.login("alice", testPassword)
	if got := b.text("#operator"); got != "alice" {
		t.Fatalf("logged in as %q", got)
	}

	t.Run("inbox lists the waiting runs", func(t *testing.T) {
		b := b.on(t)
		for _, run := range []string{w.wait, w.self, w.denied} {
			if b.count(fmt.Sprintf(`article[data-run=%q]`, run)) != 1 {
				t.Fatalf("run %s not in the inbox", run)
			}
		}
		if n := b.count(fmt.Sprintf(`article[data-run=%q] button.approve`, w.self)); n != 0 {
			t.Fatal("the inbox offers alice to approve her own run")
		}
		b.screenshot("console-inbox")
	})

	t.Run("CSRF refused", func(t *testing.T) {
		b := b.on(t)
		b.submit(w.wait, "approve", `document.querySelectorAll('input[name=csrf]').forEach(function(i){i.value='forged'})`)
		if got := b.text("#error-message"); !strings.Contains(got, "CSRF") {
			t.Fatalf("forged token: %q", got)
		}
		b.do("back to the inbox", chromedp.Navigate(b.base+"/console/inbox"))
		if b.count(fmt.Sprintf(`article[data-run=%q]`, w.wait)) != 1 {
			t.Fatal("the run left the inbox after a refused approval")
		}
	})

	t.Run("self-approval refused", func(t *testing.T) {
		b := b.on(t)
		// The page offers no button; a hand-made form posting to the
		// approve URL is refused by the server.
		b.do("post an approval of her own run", chromedp.Navigate(b.base+"/console/inbox"), chromedp.WaitVisible(chromedp.CSS("#inbox")),
			script(fmt.Sprintf(`var f=document.querySelector('[data-run=%q] form.decide');
				var btn=document.createElement('button');btn.className='approve';btn.formAction='/console/runs/%s/steps/approve/approve';
				f.appendChild(btn);btn.click()`, w.self, w.self)),
			chromedp.WaitVisible(chromedp.CSS("#error-message")))
		if got := b.text("#error-message"); !strings.Contains(got, "self_approval") {
			t.Fatalf("self-approval: %q", got)
		}
	})

	t.Run("approve makes the next step ready", func(t *testing.T) {
		b := b.on(t)
		b.do("open the inbox", chromedp.Navigate(b.base+"/console/inbox"))
		b.submit(w.wait, "approve", "")
		if got := b.text(`tr[data-step="patch"] .state`); got != "ready" {
			t.Fatalf("patch is %q after the approval", got)
		}
		if got := b.text(`tr[data-step="approve"]`); !strings.Contains(got, "approver:alice") || !strings.Contains(got, "via console") {
			t.Fatalf("approval row %q", got)
		}
		if b.count(`svg.dag g.node.state-ready[data-step="patch"]`) != 1 {
			t.Fatal("the DAG does not show patch ready")
		}
		b.screenshot("console-run-approved")
	})

	t.Run("deny revokes the run", func(t *testing.T) {
		b := b.on(t)
		b.do("open the inbox", chromedp.Navigate(b.base+"/console/inbox"))
		b.submit(w.denied, "deny", "")
		if got := b.text("#run-status"); got != "revoked" {
			t.Fatalf("run %s after deny", got)
		}
		if got := b.text("table.audit"); !strings.Contains(got, "deny") && !strings.Contains(got, "denied_step=approve") {
			t.Fatalf("audit of the denial: %q", got)
		}
	})

	t.Run("run page shows the DAG, delegation and audit", func(t *testing.T) {
		b := b.on(t)
		b.do("open the finished run", chromedp.Navigate(b.base+"/console/runs/"+w.done))
		if n := b.count("svg.dag g.node"); n != 6 {
			t.Fatalf("DAG has %d nodes, want 6", n)
		}
		if got := b.text(`tr[data-step="patch"] .delegation`); got != "supervisor → patcher" {
			t.Fatalf("delegation chain %q", got)
		}
		if got := b.text("#chain-status"); !strings.Contains(got, "intact") {
			t.Fatalf("chain status %q", got)
		}
		b.screenshot("console-run")
	})

	t.Run("live inbox", func(t *testing.T) {
		b := b.on(t)
		b.do("open the inbox", chromedp.Navigate(b.base+"/console/inbox"), chromedp.WaitVisible(chromedp.CSS("#inbox")))
		fresh, err := w.env.StartWaitingRun(t.Context(), "user:erin", func(string, ...any) {})
		if err != nil {
			t.Fatal(err)
		}
		b.do("see the new run arrive without reloading", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`article[data-run=%q]`, fresh))))
	})

	t.Run("phone", func(t *testing.T) {
		b := b.on(t)
		b.do("a phone-sized screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(b.base+"/console/runs/"+w.wait))
		// Nothing wider than the screen but the tables and the graph,
		// which scroll inside their own boxes.
		wide := get(b, "measure", chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
		if wide > 0 {
			t.Fatalf("the page is %d px wider than a phone's screen", wide)
		}
		b.screenshot("console-run-phone")
		b.do("back to a laptop", chromedp.EmulateReset())
	})

	t.Run("logout", func(t *testing.T) {
		b := b.on(t)
		b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#username")))
		b.do("open the inbox again", chromedp.Navigate(b.base+"/console/inbox"), chromedp.WaitVisible(chromedp.CSS("#username")))
		url := get(b, "location", chromedp.Location())
		if !strings.Contains(url, "/console/login") {
			t.Fatalf("after logout the inbox answered at %s", url)
		}
	})

	t.Run("viewer cannot approve or revoke", func(t *testing.T) {
		b := b.on(t)
		b.login("vera", testPassword)
		if n := b.count("article.waiting"); n != 0 {
			t.Fatalf("a viewer's inbox shows %d runs to decide", n)
		}
		b.do("open an agent", chromedp.Navigate(b.base+"/console/agents/planner"), chromedp.WaitVisible(chromedp.CSS("#agent-status")))
		if b.count("#revoke-agent") != 0 {
			t.Fatal("a viewer is offered to revoke an agent")
		}
		for _, post := range []string{"/console/runs/" + w.self + "/steps/approve/approve", "/console/agents/planner/revoke"} {
			b.do("post "+post, script(fmt.Sprintf(`var f=document.createElement('form');f.method='post';f.action=%q;
				var c=document.createElement('input');c.name='csrf';c.value=document.querySelector('input[name=csrf]').value;f.appendChild(c);
				var k=document.createElement('input');k.name='confirm';k.value='planner';f.appendChild(k);
				document.body.appendChild(f);f.submit()`, post)),
				chromedp.WaitVisible(chromedp.CSS("#error-message")))
			if got := b.text("#error-message"); !strings.Contains(got, "not_approver_for_client") && !strings.Contains(got, "not an admin") {
				t.Fatalf("viewer's POST %s: %q", post, got)
			}
		}
		b.do("open the agent again", chromedp.Navigate(b.base+"/console/agents/planner"))
		if got := b.text("#agent-status"); got != "active" {
			t.Fatalf("planner is %q after a viewer's revocation attempt", got)
		}
		b.do("log out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#username")))
	})

	t.Run("admin revokes an agent", func(t *testing.T) {
		b := b.on(t)
		b.login("adam", testPassword)
		b.do("revoke planner", chromedp.Navigate(b.base+"/console/agents/planner"),
			chromedp.SendKeys(chromedp.CSS("input[name=confirm]"), "planner"), chromedp.Click(chromedp.CSS("#revoke-agent")),
			chromedp.WaitVisible(chromedp.CSS(".flash")))
		if got := b.text("#agent-status"); !strings.HasPrefix(got, "revoked") {
			t.Fatalf("planner is %q after the admin revoked it", got)
		}
	})
}
