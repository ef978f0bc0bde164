package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// layoutData is what views/layout.html gets: the page's own data in Page,
// wrapped with what every page shows.
type layoutData struct {
	Title   string
	Sandbox bool              // the "this is a sandbox" banner
	Account *doclient.Account // who is connected, nil when nobody is
	Flash   *flash            // a one-time message
	Refresh int               // seconds before the page reloads itself; 0: never
	Page    any
}

// renderer holds the parsed pages: each is layout.html plus its own file,
// parsed once at start so a broken template stops the app before it serves.
type renderer struct {
	pages    map[string]*template.Template
	versions map[string]string // static file name -> short content hash
	// buffers are render buffers for reuse, as fmt and net/http reuse
	// theirs: without them every view grows a new buffer from nothing to
	// the page's size, about a quarter of the bytes a 3-droplet view
	// allocates (docs/PERFORMANCE.md).
	buffers sync.Pool
}

// maxPooledBuffer bounds a render buffer kept for reuse, so that one
// page of many rows does not pin its megabytes.
const maxPooledBuffer = 256 << 10

// learnPartials holds the pieces only the learn pages include.
const learnPartials = "partials/learn.html"

// newRenderer parses every page of views and hashes every file of static.
func newRenderer(views, static fs.FS) (*renderer, error) {
	r := &renderer{pages: map[string]*template.Template{}, versions: map[string]string{}}
	err := fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		r.versions[name] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading static files: %w", err)
	}

	funcs := template.FuncMap{
		"asset":    r.assetURL,
		"date":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"datetime": func(t time.Time) string { return t.Format(time.RFC3339) }, // for <time datetime>
		"clock":    func(t time.Time) string { return t.UTC().Format("15:04:05 MST") },
	}
	// Every page gets the layout and the partials it may include
	// (views/partials: pieces a page includes with {{template "name" ...}}):
	// the learn pages (learn*.html) partials/learn.html, the others every
	// other partial. Each page holds a copy of what it gets, so giving every
	// page every partial would cost megabytes of memory for nothing.
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(views, "layout.html")
	if err != nil {
		return nil, fmt.Errorf("parsing views/layout.html: %w", err)
	}
	partials, err := fs.Glob(views, "partials/*.html")
	if err != nil {
		return nil, err
	}
	appBase, learnBase := template.Must(layout.Clone()), template.Must(layout.Clone())
	for _, name := range partials {
		base := appBase
		if name == learnPartials {
			base = learnBase
		}
		if _, err := base.ParseFS(views, name); err != nil {
			return nil, fmt.Errorf("parsing views/%s: %w", name, err)
		}
	}
	names, err := fs.Glob(views, "*.html")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if name == "layout.html" {
			continue
		}
		base := appBase
		if strings.HasPrefix(name, "learn") {
			base = learnBase
		}
		t, err := template.Must(base.Clone()).ParseFS(views, name)
		if err != nil {
			return nil, fmt.Errorf("parsing views/%s: %w", name, err)
		}
		r.pages[strings.TrimSuffix(name, ".html")] = t
	}
	return r, nil
}

// assetURL is the URL of a static file with its content hash in the query,
// so browsers may cache it for a year and still see every change.
func (r *renderer) assetURL(name string) (string, error) {
	v, ok := r.versions[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

// render writes page with status. The page is rendered into a buffer first,
// so a template error becomes a clean 500 instead of half a page.
func (s *Server) render(c echo.Context, status int, page, title string, sess *Session, data any) error {
	t, ok := s.pages.pages[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	l := layoutData{Title: title, Sandbox: s.sandbox, Flash: s.sessions.takeFlash(c.Response(), c.Request()), Page: data}
	if sess != nil {
		l.Account = &sess.Account
	}
	if p, ok := data.(interface{ refreshEvery() int }); ok {
		l.Refresh = p.refreshEvery()
	}
	buf, _ := s.pages.buffers.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buf.Reset()
			s.pages.buffers.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, "layout.html", l); err != nil {
		return fmt.Errorf("rendering %s: %w", page, err)
	}
	return c.HTMLBlob(status, buf.Bytes()) // written before the buffer goes back
}

// renderOnce renders a page that is the same for every visitor, at start.
func (r *renderer) renderOnce(page string, l layoutData) ([]byte, error) {
	var buf bytes.Buffer
	if err := r.pages[page].ExecuteTemplate(&buf, "layout.html", l); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", page, err)
	}
	return buf.Bytes(), nil
}

// handleStatic serves GET /static/*: the embedded stylesheet and images.
func (s *Server) handleStatic(c echo.Context) error {
	name := c.Param("*")
	if !fs.ValidPath(name) {
		return echo.ErrNotFound
	}
	if _, err := fs.Stat(s.static, name); err != nil {
		return echo.ErrNotFound
	}
	cache := "public, max-age=300"
	if v := c.QueryParam("v"); v != "" && v == s.pages.versions[name] {
		cache = "public, max-age=31536000, immutable"
	}
	h := c.Response().Header()
	h.Set("Cache-Control", cache)
	// embed.FS has no modification times, so no Last-Modified: the
	// content hash is the validator, and http.ServeContent answers a
	// matching If-None-Match with 304 Not Modified.
	h.Set("ETag", `"`+s.pages.versions[name]+`"`)
	r := c.Request().Clone(c.Request().Context())
	r.URL.Path = "/" + path.Clean(name)
	http.FileServerFS(s.static).ServeHTTP(c.Response(), r)
	return nil
}
