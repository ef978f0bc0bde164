package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
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

// apiHandler serves one API operation for a caller whose token is valid
// and allowed to call it. acct is the account the token acts for.
type apiHandler func(w http.ResponseWriter, r *http.Request, acct *accountState)

// operation is one method of an API path, with the granular scope
// DigitalOcean's OpenAPI description requires for it.
type operation struct {
	method string
	scope  string
	write  bool // legacy "read" does not cover it; "write" does
	h      apiHandler
}

func get(scope string, h apiHandler) operation {
	return operation{method: http.MethodGet, scope: scope, h: h}
}

func post(scope string, h apiHandler) operation {
	return operation{method: http.MethodPost, scope: scope, write: true, h: h}
}

func del(scope string, h apiHandler) operation {
	return operation{method: http.MethodDelete, scope: scope, write: true, h: h}
}

// allows reports whether a grant's scope covers the operation: each of its
// granular scopes (DigitalOcean's description lists two for some, all
// required), or the legacy scope that covers them.
func (op operation) allows(granted string) bool {
	for _, need := range strings.Fields(op.scope) {
		if !scopeAllows(granted, need, op.write) {
			return false
		}
	}
	return true
}

// grantScopeKey is the request context key of the caller's scope.
type grantScopeKey struct{}

// grantScope is the scope of the grant an API request came with, for the
// handlers whose fields need scopes of their own (creating a droplet).
func grantScope(r *http.Request) string {
	sc, _ := r.Context().Value(grantScopeKey{}).(string)
	return sc
}

// api wraps the operations of one path with what every DigitalOcean API
// response has, a request ID and the rate-limit headers, and with the
// checks that come before an operation runs, in DigitalOcean's order: the
// rate limits (429), the token (401), the method (405), the scope (403).
// With no operations, api answers not_found for every path the sandbox
// doesn't serve; it needs no token, though a token it gets still counts
// against its budget.
func (s *Server) api(ops ...operation) http.HandlerFunc {
	var allow []string
	for _, op := range ops {
		allow = append(allow, op.method)
		if op.method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		s.store.countAPIRequest()
		hdr := w.Header()
		hdr.Set("X-Request-Id", newRequestID())

		now := s.now()
		who, rate, err := s.store.useAccessToken(now, bearerToken(r), s.limits)
		if rate.limit >= 0 {
			hdr.Set("Ratelimit-Limit", strconv.Itoa(rate.limit))
			hdr.Set("Ratelimit-Remaining", strconv.Itoa(rate.remaining))
			hdr.Set("Ratelimit-Reset", strconv.FormatInt(rate.reset.Unix(), 10))
		}
		if errors.Is(err, errRateLimited) {
			wait := int(math.Ceil(rate.retryAfter.Sub(now).Seconds()))
			hdr.Set("Retry-After", strconv.Itoa(max(wait, 1)))
			writeAPIError(w, http.StatusTooManyRequests, "too_many_requests", "API Rate limit exceeded.")
			return
		}
		if len(ops) == 0 {
			writeAPIError(w, http.StatusNotFound, "not_found", "The resource you were accessing could not be found.")
			return
		}
		if err != nil {
			hdr.Set("WWW-Authenticate", `Bearer realm="DigitalOcean", error="invalid_token"`)
			writeAPIError(w, http.StatusUnauthorized, "unauthorized", "Unable to authenticate you")
			return
		}
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		i := slices.IndexFunc(ops, func(op operation) bool { return op.method == method })
		if i < 0 {
			hdr.Set("Allow", strings.Join(allow, ", "))
			writeAPIError(w, http.StatusMethodNotAllowed, "method_not_allowed", "This endpoint accepts "+strings.Join(allow, ", ")+" only.")
			return
		}
		op := ops[i]
		if !op.allows(who.scope) {
			scopes := strings.Fields(op.scope)
			need := "the " + strings.Join(scopes, " and ") + " scope"
			if len(scopes) > 1 {
				need += "s"
			}
			if op.write {
				need += " or write access"
			}
			writeAPIError(w, http.StatusForbidden, "forbidden", "You are not authorized to perform this operation: it needs "+need+".")
			return
		}
		acct, refusal := s.actingAccount(who.account, op)
		if refusal != "" {
			writeAPIError(w, http.StatusForbidden, "forbidden", refusal)
			return
		}
		op.h(w, r.WithContext(context.WithValue(r.Context(), grantScopeKey{}, who.scope)), acct)
	}
}

// handleAccount serves GET /v2/account.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, acct *accountState) {
	writeJSON(w, http.StatusOK, struct {
		Account accountJSON `json:"account"`
	}{acct.json()})
}

// handleDroplets serves GET /v2/droplets: the account's droplets, paginated
// with page and per_page, optionally filtered by tag_name or by name.
func (s *Server) handleDroplets(w http.ResponseWriter, r *http.Request, acct *accountState) {
	q := r.URL.Query()
	page, perPage, ok := s.paging(w, q)
	if !ok {
		return
	}
	tag, name := q.Get("tag_name"), q.Get("name")
	if tag != "" && name != "" {
		writeAPIError(w, http.StatusBadRequest, "bad_request", "name and tag_name cannot be combined.")
		return
	}
	droplets, total := acct.list(s.now(), tag, name, page, perPage)
	writeJSON(w, http.StatusOK, dropletsPage{
		Droplets: droplets,
		Links:    pageLinks(r, page, perPage, total),
		Meta:     metaJSON{Total: total},
	})
}

// handleDroplet serves GET /v2/droplets/{id}. Another account's droplet is
// not found, exactly like one that doesn't exist.
func (s *Server) handleDroplet(w http.ResponseWriter, r *http.Request, acct *accountState) {
	id, ok := pathID(r, "id")
	var d dropletJSON
	if ok {
		d, ok = acct.droplet(s.now(), id)
	}
	if !ok {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Droplet dropletJSON `json:"droplet"`
	}{d})
}

// actionRequest is the body of POST /v2/droplets/{id}/actions
// (components.schemas.droplet_action and droplet_action_rename).
type actionRequest struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// handleNewAction serves POST /v2/droplets/{id}/actions: 201 with the
// action, in progress; it completes after the action delay.
func (s *Server) handleNewAction(w http.ResponseWriter, r *http.Request, acct *accountState) {
	id, ok := pathID(r, "id")
	if !ok {
		writeNotFound(w)
		return
	}
	var req actionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err := dec.Decode(&req); err != nil {
		writeAPIError(w, http.StatusBadRequest, "bad_request", `The body must be a JSON object such as {"type": "reboot"}.`)
		return
	}
	switch {
	case req.Type == "":
		writeAPIError(w, http.StatusUnprocessableEntity, "unprocessable_entity", "type is required: one of "+strings.Join(actionTypes, ", ")+".")
		return
	case slices.Contains(unsupportedActionTypes, req.Type):
		writeAPIError(w, http.StatusUnprocessableEntity, "unprocessable_entity", "The sandbox does not perform "+req.Type+" actions; it performs "+strings.Join(actionTypes, ", ")+".")
		return
	case !slices.Contains(actionTypes, req.Type):
		writeAPIError(w, http.StatusUnprocessableEntity, "unprocessable_entity", "type must be one of "+strings.Join(actionTypes, ", ")+".")
		return
	}
	act, err := acct.start(s.now(), id, req.Type, req.Name, s.actionDelay, s.newActionID)
	var no refusal
	switch {
	case errors.Is(err, errNoDroplet):
		writeNotFound(w)
		return
	case errors.As(err, &no):
		writeAPIError(w, http.StatusUnprocessableEntity, "unprocessable_entity", no.Error())
		return
	}
	s.log.Info("sandbox: droplet action", "type", act.Type, "droplet", id, "action", act.ID)
	writeJSON(w, http.StatusCreated, struct {
		Action actionJSON `json:"action"`
	}{act})
}

func (s *Server) newActionID() int {
	return int(s.lastActionID.Add(1))
}

// handleDropletActions serves GET /v2/droplets/{id}/actions: the
// droplet's actions, newest first, paginated.
func (s *Server) handleDropletActions(w http.ResponseWriter, r *http.Request, acct *accountState) {
	id, ok := pathID(r, "id")
	if !ok || !acct.has(id) {
		writeNotFound(w)
		return
	}
	s.writeActions(w, r, acct, id)
}

// handleActions serves GET /v2/actions: every action of the account,
// newest first, paginated.
func (s *Server) handleActions(w http.ResponseWriter, r *http.Request, acct *accountState) {
	s.writeActions(w, r, acct, -1)
}

func (s *Server) writeActions(w http.ResponseWriter, r *http.Request, acct *accountState, dropletID int) {
	page, perPage, ok := s.paging(w, r.URL.Query())
	if !ok {
		return
	}
	actions, total := acct.listActions(s.now(), dropletID, page, perPage)
	writeJSON(w, http.StatusOK, actionsPage{
		Actions: actions,
		Links:   pageLinks(r, page, perPage, total),
		Meta:    metaJSON{Total: total},
	})
}

// handleAction serves GET /v2/actions/{action_id}.
func (s *Server) handleAction(w http.ResponseWriter, r *http.Request, acct *accountState) {
	s.writeAction(w, r, acct, -1)
}

// handleDropletAction serves GET /v2/droplets/{id}/actions/{action_id}.
func (s *Server) handleDropletAction(w http.ResponseWriter, r *http.Request, acct *accountState) {
	id, ok := pathID(r, "id")
	if !ok {
		writeNotFound(w)
		return
	}
	s.writeAction(w, r, acct, id)
}

func (s *Server) writeAction(w http.ResponseWriter, r *http.Request, acct *accountState, dropletID int) {
	id, ok := pathID(r, "action_id")
	var act actionJSON
	if ok {
		act, ok = acct.action(s.now(), id, dropletID)
	}
	if !ok {
		writeNotFound(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Action actionJSON `json:"action"`
	}{act})
}

// actionsPage is the body of the action lists.
type actionsPage struct {
	Actions []actionJSON `json:"actions"`
	Links   linksJSON    `json:"links"`
	Meta    metaJSON     `json:"meta"`
}

// paging reads page and per_page, answering 400 when they are not
// positive integers. DigitalOcean caps per_page at 200 rather than
// failing: asking for more returns pages of 200, and the links say
// per_page=200.
func (s *Server) paging(w http.ResponseWriter, q url.Values) (page, perPage int, ok bool) {
	page, ok = positiveParam(q, "page", 1)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "bad_request", "page must be a positive integer.")
		return 0, 0, false
	}
	perPage, ok = positiveParam(q, "per_page", defaultPerPage)
	if !ok {
		writeAPIError(w, http.StatusBadRequest, "bad_request", "per_page must be a positive integer.")
		return 0, 0, false
	}
	return page, min(perPage, maxPerPage), true
}

// pathID reads a numeric ID from the path; anything else is not found.
func pathID(r *http.Request, name string) (int, bool) {
	raw := r.PathValue(name)
	if raw == "" || len(raw) > 12 || strings.TrimLeft(raw, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(raw)
	return n, err == nil
}

func writeNotFound(w http.ResponseWriter) {
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
