package sandbox

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
)

// The consent and error pages are html/template files embedded in the
// binary, each parsed together with the shared layout.
//
//go:embed templates/*.html
var templateFS embed.FS

// The stylesheet and icon are served by the sandbox itself: its Content
// Security Policy (default-src 'self') forbids inline styles, and a page
// without an icon makes the browser ask for /favicon.ico, which is not the
// sandbox's to answer when it is mounted under the app.
//
//go:embed static/sandbox.css static/favicon.svg
var staticFS embed.FS

// staticTypes are the files under /static/ and their content types.
var staticTypes = map[string]string{
	"sandbox.css": "text/css; charset=utf-8",
	"favicon.svg": "image/svg+xml",
}

// parsePages parses each page with the layout, keyed by page name. Links
// in the pages are relative, so that they work under any mount prefix;
// root is the way from the page's path back to the sandbox's root
// ("../../" from /v1/oauth/authorize, "" from /developer).
func parsePages() (map[string]*template.Template, error) {
	pages := make(map[string]*template.Template)
	for _, p := range []struct{ name, file, root string }{
		{"consent.html", "consent.html", "../../"},
		{"error.html", "error.html", "../../"},
		{"developer.html", "developer.html", ""},
		{"developer-error", "error.html", ""},
		{"device.html", "device.html", ""},
	} {
		root := p.root
		t, err := template.New("").Funcs(template.FuncMap{"root": func() string { return root }}).
			ParseFS(templateFS, "templates/layout.html", "templates/"+p.file)
		if err != nil {
			return nil, fmt.Errorf("sandbox: parsing %s: %w", p.file, err)
		}
		pages[p.name] = t
	}
	return pages, nil
}

// consentPage is the data of the consent page.
type consentPage struct {
	AppName       string
	Registered    bool     // registered at run time: nobody vouches for its name
	ReturnTo      string   // origin of the redirect URI, where the user goes next
	Access        string   // "Read", "Read & write" or "Custom"
	CustomScopes  []string // granular scopes, listed under Access
	Account       Account  // the default account
	SelectAccount bool     // prompt=select_account: the user picks one of Accounts
	Accounts      []Account
	Request       authRequest // echoed in hidden inputs
	CSRFToken     string
}

// errorPage is the data of the error page, shown when the sandbox can't
// send the user back to the app (unknown client or redirect URI) or refuses
// a forged form.
type errorPage struct {
	Title   string
	Message string
}

// renderPage writes a page with the sandbox's security headers. formTarget
// is the origin of the validated redirect URI, or empty; see pageHeaders.
func (s *Server) renderPage(w http.ResponseWriter, status int, name, formTarget string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("sandbox: rendering page", "page", name, "err", err)
		http.Error(w, "sandbox: internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w.Header(), formTarget)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError shows the error page; nothing redirects anywhere.
func (s *Server) renderError(w http.ResponseWriter, status int, title, message string) {
	s.renderPage(w, status, "error.html", "", errorPage{Title: title, Message: message})
}

// pageHeaders sets the headers of every sandbox HTML page. The Content
// Security Policy allows only the sandbox's own stylesheet, forbids
// framing (clickjacking an "Authorize" button), and limits where forms may
// go. Browsers apply form-action to the redirect that follows a form
// submission too, so the origin of the validated redirect URI (formTarget)
// must be listed, or the browser would block the redirect back to the app.
// A target that is not a valid origin is left out rather than trusted
// (the redirect back is then blocked: failing closed).
func pageHeaders(h http.Header, formTarget string) {
	csp := "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"
	if validOrigin(formTarget) {
		csp += " " + formTarget
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// handleStatic serves GET /static/sandbox.css and /static/favicon.svg.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	contentType, ok := staticTypes[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, _ := staticFS.ReadFile("static/" + name) // cannot fail: every name in staticTypes is embedded
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	w.Write(body)
}
