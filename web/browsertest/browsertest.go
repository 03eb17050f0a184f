// Package browsertest drives Debian's Chromium with chromedp for tests that use Gatehouse as a person
// would: open a page, type, click, read what is on the screen, save screenshots.
//
//	b := browsertest.New(t)
//	tab := b.NewTab(t, browsertest.TabOptions{BaseURL: app.URL(), UserAgent: wecom.UserAgentIOS, Viewport: browsertest.Phone})
//	tab.Navigate(t, "/signin")
//	tab.SetValue(t, "#f-username", "root")
//	tab.SetValue(t, "#f-password", "secret")
//	status := tab.Submit(t, browsertest.TestID("password-form")) // waits for the next page
//	tab.Screenshot(t, "dashboard")
//
// Every action waits at most ActionTimeout, then fails the test with the page's URL and a screenshot,
// so a broken page fails fast instead of hanging. Selectors are CSS selectors. Actions that load a
// page (Navigate, ClickAndWait, SelectAndWait, Submit) return once it has loaded, with its HTTP status.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"gatehouse/web/webtest"
)

// ExecPath is the browser the tests run: Debian's Chromium.
const ExecPath = "/usr/bin/chromium"

// ActionTimeout bounds every action of a Tab, including the page load it waits for.
const ActionTimeout = 10 * time.Second

var screenshotDir = flag.String("screenshots", "", "directory for the screenshots of browser tests (default: the test's artifact dir with -artifacts, else testdata/screenshots)")

// Viewport is the size of a tab's page in CSS pixels; Mobile turns on mobile and touch emulation.
type Viewport struct {
	Width, Height int64
	Mobile        bool
}

var (
	// Desktop is the browser window as started, 1280×900. A tab without a Viewport shows pages in
	// that window, whose frame leaves a page area about 1280×813; Viewport: Desktop makes it 1280×900.
	Desktop = Viewport{Width: 1280, Height: 900}
	// Phone is an iPhone-sized portrait screen (390×844 CSS pixels at 2× density) with mobile and touch emulation.
	Phone = Viewport{Width: 390, Height: 844, Mobile: true}
)

// Browser is a headless Chromium that lives as long as the test that started it.
type Browser struct {
	ctx context.Context // the browser's first tab; tabs are children of it

	mu    sync.Mutex
	shots map[string]int // screenshots taken per test, to number them in order
}

// New starts a headless Chromium and stops it when the test ends. It skips the test when
// /usr/bin/chromium is missing, or fails it when the environment has CI=true.
func New(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(ExecPath); err != nil {
		msg := "browser tests need " + ExecPath + ": apt-get install chromium fonts-noto-cjk"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var output webtest.SyncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(ExecPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(int(Desktop.Width), int(Desktop.Height)),
		// No UserDataDir: chromedp then passes a fresh temporary --user-data-dir and removes it
		// (and any leftover child process) when the browser exits.
		chromedp.CombinedOutput(&output),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// The browser lives as long as the context of its first action, so bound the start with a
	// timer and not with a context deadline.
	giveUp := time.AfterFunc(30*time.Second, cancel)
	err := chromedp.Do(ctx) // starts the browser and its first tab
	giveUp.Stop()
	if err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start %s: %v\n%s", ExecPath, err, output.String())
	}
	t.Cleanup(func() {
		cancel()      // closes the browser gracefully
		cancelAlloc() // and waits for its process to end
	})
	return &Browser{ctx: ctx, shots: map[string]int{}}
}

// TabOptions configure a new tab.
type TabOptions struct {
	// BaseURL is prepended to paths given to Navigate that start with "/".
	BaseURL string
	// UserAgent overrides the User-Agent header and navigator.userAgent, for example wecom.UserAgentIOS.
	UserAgent string
	// Language sets the Accept-Language header, for example "zh-CN,zh" (default: the browser's, en-US).
	Language string
	// Viewport is the page size; the zero value keeps the window's 1280×900.
	Viewport Viewport
}

// Tab is one page, in a browser context of its own: its cookies are its own, as a fresh visitor's.
type Tab struct {
	b    *Browser
	ctx  context.Context
	opts TabOptions
}

// NewTab opens a tab with the options and closes it when the test ends.
func (b *Browser) NewTab(t testing.TB, opts TabOptions) *Tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// As with the browser, the tab lives as long as the context of its first action: no deadline here.
	giveUp := time.AfterFunc(ActionTimeout, cancel)
	err := chromedp.Do(ctx)
	giveUp.Stop()
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tab := &Tab{b: b, ctx: ctx, opts: opts}
	tab.do(t, "set up the tab", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if opts.UserAgent != "" || opts.Language != "" {
			ua := opts.UserAgent
			if ua == "" { // an Accept-Language override needs a User-Agent: keep the browser's
				v, err := cdp.Call(ctx, tg, browser.GetVersion, cdp.Empty{})
				if err != nil {
					return err
				}
				ua = v.UserAgent
			}
			p := emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: opts.Language}
			if _, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, p); err != nil {
				return err
			}
		}
		if v := opts.Viewport; v != (Viewport{}) {
			vopts := []chromedp.EmulateViewportOption{chromedp.EmulatePortrait}
			if v.Mobile {
				vopts = append(vopts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2))
			}
			if _, err := chromedp.EmulateViewport(v.Width, v.Height, vopts...)(ctx, tg); err != nil {
				return err
			}
		}
		return nil
	}))
	return tab
}

// TestID is the CSS selector of the element with that data-testid.
func TestID(id string) string { return fmt.Sprintf("[data-testid=%q]", id) }

// Navigate opens a URL (or a path under BaseURL), waits for the page to load and returns its HTTP
// status (after redirects).
func (tab *Tab) Navigate(t testing.TB, urlOrPath string) int {
	t.Helper()
	u := urlOrPath
	if strings.HasPrefix(u, "/") {
		u = tab.opts.BaseURL + u
	}
	return tab.load(t, "navigate to "+u, chromedp.Navigate(u))
}

// Click clicks the element (it waits until it is visible). Use ClickAndWait when the click loads a page.
func (tab *Tab) Click(t testing.TB, sel string) {
	t.Helper()
	tab.do(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// ClickAndWait clicks a link or button, waits for the page it loads and returns its HTTP status.
func (tab *Tab) ClickAndWait(t testing.TB, sel string) int {
	t.Helper()
	return tab.load(t, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// SetValue replaces the value of an input or textarea (it waits until it is visible).
func (tab *Tab) SetValue(t testing.TB, sel, value string) {
	t.Helper()
	tab.do(t, "set value of "+sel, chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.SetValue(chromedp.CSS(sel), value),
	))
}

// Select picks the option with that value in a <select> and fires its input and change events, as a
// person choosing it would. Use SelectAndWait when the choice loads a page.
func (tab *Tab) Select(t testing.TB, sel, value string) {
	t.Helper()
	tab.do(t, "select "+value+" in "+sel, selectAction(sel, value))
}

// SelectAndWait is Select for a <select> whose change loads a page (as the language switch does); it
// returns the new page's HTTP status.
func (tab *Tab) SelectAndWait(t testing.TB, sel, value string) int {
	t.Helper()
	return tab.load(t, "select "+value+" in "+sel, selectAction(sel, value))
}

func selectAction(sel, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el || ![...el.options].some(o => o.value === %s)) throw new Error("no such option");
		el.value = %[2]s;
		el.dispatchEvent(new Event("input", {bubbles: true}));
		el.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, jsString(sel), jsString(value))
	return chromedp.Steps(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](js))
}

// Submit submits the form that is or contains the element, as pressing Enter in it would (validation
// and submit handlers run), waits for the page it loads and returns that page's HTTP status.
func (tab *Tab) Submit(t testing.TB, sel string) int {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		const form = el && (el instanceof HTMLFormElement ? el : el.form || el.closest("form"));
		if (!form) throw new Error("no form");
		form.requestSubmit();
	})()`, jsString(sel))
	return tab.load(t, "submit "+sel, chromedp.Steps(chromedp.WaitReady(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](js)))
}

// WaitVisible waits until the element is on the page and visible.
func (tab *Tab) WaitVisible(t testing.TB, sel string) {
	t.Helper()
	tab.do(t, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Text waits until the element is visible and returns its rendered text (innerText), trimmed.
func (tab *Tab) Text(t testing.TB, sel string) string {
	t.Helper()
	var s string
	tab.do(t, "text of "+sel, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.WaitVisible(chromedp.CSS(sel))(ctx, tg); err != nil {
			return err
		}
		var err error
		s, err = chromedp.Text(chromedp.CSS(sel))(ctx, tg)
		return err
	}))
	return strings.TrimSpace(s)
}

// Value returns the current value of an input, textarea or select.
func (tab *Tab) Value(t testing.TB, sel string) string {
	t.Helper()
	var s string
	tab.do(t, "value of "+sel, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		s, err = chromedp.Value(chromedp.CSS(sel))(ctx, tg)
		return err
	}))
	return s
}

// Count returns how many elements match now, without waiting: use it to check that something is absent.
func (tab *Tab) Count(t testing.TB, sel string) int {
	t.Helper()
	var n int
	tab.do(t, "count "+sel, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		n, err = chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%s).length", jsString(sel)))(ctx, tg)
		return err
	}))
	return n
}

// URL is the tab's current URL.
func (tab *Tab) URL(t testing.TB) string {
	t.Helper()
	var s string
	tab.do(t, "read the URL", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		s, err = chromedp.Location()(ctx, tg)
		return err
	}))
	return s
}

// Path is the path and query of the tab's current URL, such as "/signin?redirect=%2Fadmin".
func (tab *Tab) Path(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(tab.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// Eval evaluates a JavaScript expression in the tab's page and returns its value as T, for example
// browsertest.Eval[string](t, tab, "navigator.userAgent").
func Eval[T any](t testing.TB, tab *Tab, expr string) T {
	t.Helper()
	var v T
	tab.do(t, "evaluate "+expr, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		v, err = chromedp.Evaluate[T](expr)(ctx, tg)
		return err
	}))
	return v
}

// Do runs chromedp actions on the tab with the action timeout, for what the helpers do not cover.
func (tab *Tab) Do(t testing.TB, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tab.do(t, "run actions", chromedp.Steps(steps...))
}

// Screenshot saves a full-page PNG named NN-name.png (numbered in the order taken) and logs its path.
// The folder is -screenshots DIR/<test name>/ when the flag is given, else the test's artifact
// directory when go test runs with -artifacts, else testdata/screenshots/<test name>/ (git-ignored).
func (tab *Tab) Screenshot(t testing.TB, name string) string {
	t.Helper()
	path, err := tab.screenshot(t, name, ActionTimeout)
	if err != nil {
		tab.fail(t, "screenshot "+name, err)
	}
	t.Logf("screenshot %s", path)
	return path
}

func (tab *Tab) screenshot(t testing.TB, name string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(tab.ctx, timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		return "", err
	}
	dir, err := tab.b.screenshotDir(t)
	if err != nil {
		return "", err
	}
	tab.b.mu.Lock()
	tab.b.shots[t.Name()]++
	n := tab.b.shots[t.Name()]
	tab.b.mu.Unlock()
	path, err := filepath.Abs(filepath.Join(dir, fmt.Sprintf("%02d-%s.png", n, fileName(name))))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, png, 0o644)
}

// screenshotDir returns the test's screenshot folder; the first call in a test empties it so that
// no screenshot of an earlier run is mistaken for this one's.
func (b *Browser) screenshotDir(t testing.TB) (string, error) {
	if *screenshotDir == "" && artifactsEnabled() {
		return t.ArtifactDir(), nil
	}
	base := *screenshotDir
	if base == "" {
		base = filepath.Join("testdata", "screenshots")
	}
	dir := filepath.Join(base, fileName(t.Name()))
	b.mu.Lock()
	_, seen := b.shots[t.Name()]
	b.mu.Unlock()
	if !seen {
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	return dir, os.MkdirAll(dir, 0o755)
}

func artifactsEnabled() bool {
	f := flag.Lookup("test.artifacts")
	return f != nil && f.Value.String() == "true"
}

// do runs an action with the action timeout and fails the test if it errs.
func (tab *Tab) do(t testing.TB, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, ActionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, a); err != nil {
		tab.fail(t, what, err)
	}
}

// load runs an action that loads a page, waits for the load and returns the document's HTTP status.
func (tab *Tab) load(t testing.TB, what string, a chromedp.Action[chromedp.Void]) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, ActionTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, a)
	if err != nil {
		tab.fail(t, what, err)
	}
	if resp == nil {
		return 0
	}
	return int(resp.Status)
}

// fail ends the test with what was being done, where the tab was, and a screenshot of it.
func (tab *Tab) fail(t testing.TB, what string, err error) {
	t.Helper()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("nothing happened in %s: %w", ActionTimeout, err)
	}
	ctx, cancel := context.WithTimeout(tab.ctx, 2*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Location())
	shot := ""
	if path, serr := tab.screenshot(t, "failure", 3*time.Second); serr == nil {
		shot = "; screenshot " + path
	}
	t.Fatalf("%s: %v (page %s%s)", what, err, where, shot)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileName(s string) string { return strings.Trim(unsafeName.ReplaceAllString(s, "_"), "_") }
