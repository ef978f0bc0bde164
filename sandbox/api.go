package sandbox

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Pagination limits of DigitalOcean's list endpoints.
const (
	defaultPerPage = 20
	maxPerPage     = 200
)

// apiError is the body of DigitalOcean's API errors.
type apiError struct {
	ID        string `json:"id"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// dropletsPage is the body of GET /v2/droplets.
type dropletsPage struct {
	Droplets []dropletJSON `json:"droplets"`
	Links    linksJSON     `json:"links"`
	Meta     metaJSON      `json:"meta"`
}

// linksJSON holds pagination links. A list that fits in one page has
// none, and DigitalOcean then sends "links": {}.
type linksJSON struct {
	Pages *pagesJSON `json:"pages,omitempty"`
}

type pagesJSON struct {
	First string `json:"first,omitempty"`
	Prev  string `json:"prev,omitempty"`
	Next  string `json:"next,omitempty"`
	Last  string `json:"last,omitempty"`
}

type metaJSON struct {
	Total int `json:"total"`
}

// api wraps an API handler with what every DigitalOcean API response has: a
// request ID, the rate-limit headers, and the checks that come before the
// endpoint runs. need is the granular scope the endpoint requires (e.g.
// "droplet:read"); an empty need marks a handler that needs no token (the
// not-found handler), though a token it gets still counts against its
// budget.
func (s *Server) api(need string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.store.countAPIRequest()
		hdr := w.Header()
		hdr.Set("X-Request-Id", newRequestID())

		now := s.now()
		scope, rate, err := s.store.useAccessToken(now, bearerToken(r), s.rateLimit)
		hdr.Set("Ratelimit-Limit", strconv.Itoa(rate.limit))
		hdr.Set("Ratelimit-Remaining", strconv.Itoa(rate.remaining))
		hdr.Set("Ratelimit-Reset", strconv.FormatInt(rate.reset.Unix(), 10))

		if errors.Is(err, errRateLimited) {
			wait := int(math.Ceil(rate.reset.Sub(now).Seconds()))
			hdr.Set("Retry-After", strconv.Itoa(max(wait, 1)))
			writeAPIError(w, http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")
			return
		}
		if need != "" {
			switch {
			case err != nil:
				hdr.Set("WWW-Authenticate", `Bearer realm="DigitalOcean", error="invalid_token"`)
				writeAPIError(w, http.StatusUnauthorized, "unauthorized", "Unable to authenticate you")
				return
			case !scopeAllows(scope, need):
				writeAPIError(w, http.StatusForbidden, "forbidden", "You are not authorized to perform this operation: the token lacks the "+need+" scope.")
				return
			case r.Method != http.MethodGet && r.Method != http.MethodHead:
				hdr.Set("Allow", "GET, HEAD")
				writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "The sandbox supports only GET on this endpoint.")
				return
			}
		}
		h(w, r)
	}
}

// handleAccount serves GET /v2/account.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Account accountJSON `json:"account"`
	}{s.account.json()})
}

// handleDroplets serves GET /v2/droplets: the account's droplets, paginated
// with page and per_page, optionally filtered by tag_name.
func (s *Server) handleDroplets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, ok := positiveParam(q, "page", 1)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "bad_request", "page must be a positive integer.")
		return
	}
	perPage, ok := positiveParam(q, "per_page", defaultPerPage)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "bad_request", "per_page must be a positive integer.")
		return
	}
	// DigitalOcean caps per_page at 200 rather than failing: asking for more
	// returns pages of 200, and the links say per_page=200.
	perPage = min(perPage, maxPerPage)

	droplets, total := s.catalog.list(q.Get("tag_name"), page, perPage)
	writeJSON(w, http.StatusOK, dropletsPage{
		Droplets: droplets,
		Links:    pageLinks(r, page, perPage, total),
		Meta:     metaJSON{Total: total},
	})
}

// handleNotFound answers every path the sandbox doesn't serve.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeAPIError(w, http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
}

// positiveParam reads an optional positive integer query parameter.
func positiveParam(q url.Values, name string, def int) (int, bool) {
	raw := q.Get(name)
	if raw == "" {
		return def, true
	}
	n, err := strconv.Atoi(raw)
	return n, err == nil && n > 0
}

// pageLinks builds DigitalOcean's pagination links: first and prev except
// on the first page, next and last except on the last one. They are
// absolute URLs to where the client sent this request, with the same query
// and another page number; godo reads the page number from "next".
func pageLinks(r *http.Request, page, perPage, total int) linksJSON {
	last := max(1, (total+perPage-1)/perPage)
	if page == 1 && last == 1 {
		return linksJSON{}
	}
	base := requestURL(r)
	q := r.URL.Query()
	if q.Has("per_page") {
		q.Set("per_page", strconv.Itoa(perPage)) // the capped value
	}
	link := func(p int) string {
		q.Set("page", strconv.Itoa(p))
		base.RawQuery = q.Encode()
		return base.String()
	}
	var pages pagesJSON
	if page > 1 {
		pages.First = link(1)
		pages.Prev = link(page - 1)
	}
	if page < last {
		pages.Next = link(page + 1)
		pages.Last = link(last)
	}
	return linksJSON{Pages: &pages}
}

// requestURL returns the absolute URL the client requested, without query.
// The path comes from r.RequestURI, which is what the client sent, rather
// than r.URL.Path, which http.StripPrefix has shortened when the sandbox is
// mounted under a prefix. The scheme is https only when this server
// terminated TLS itself: the sandbox doesn't trust proxy headers, and godo
// only reads the page number from the links anyway.
func requestURL(r *http.Request) *url.URL {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if orig, err := url.ParseRequestURI(r.RequestURI); err == nil {
		u.Path, u.RawPath = orig.Path, orig.RawPath
	}
	return u
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header (RFC 6750 §2.1; the scheme is case-insensitive), or "".
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// writeAPIError writes DigitalOcean's error body, with the request ID that
// api has put in the X-Request-Id header.
func writeAPIError(w http.ResponseWriter, status int, id, message string) {
	writeJSON(w, status, apiError{ID: id, Message: message, RequestID: w.Header().Get("X-Request-Id")})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
