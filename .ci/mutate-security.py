"""Mutation check for the security tests (issue: "every protection has a test
that fails when the protection is removed").

Removes or weakens each protection once, in a scratch copy of the repository,
runs the TestSecurity* tests, and prints which ones failed. Every line should
say CAUGHT: the test numbered like the protection failed. A pattern that no
longer matches the code prints SKIPPED: update it when you change the code.
Not part of CI (it takes a few minutes).

    python3 .ci/mutate-security.py            # all mutations
    python3 .ci/mutate-security.py 3 7        # only #3 and #7
"""
import subprocess, shutil, re, sys, os, tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M = [
 # (number, description, file, old, new)
 ("01", "no state check before the exchange", "handlers/auth.go", "if !started || !sameState(state, login.State) {", "if (!started || !sameState(state, login.State)) && false {"),
 ("01", "short state (40 bits)", "handlers/auth.go", "return rand.Text() + rand.Text()", "return rand.Text()[:8]"),
 ("01", "state reused across logins", "handlers/auth.go", "return rand.Text() + rand.Text()", 'return rand.Text()[:0] + "FIXEDSTATEFIXEDSTATEFIXEDSTATEFIXEDSTATE"'),
 ("01", "empty state accepted", "handlers/session.go", 'return a != "" && subtle.ConstantTimeCompare', "return subtle.ConstantTimeCompare"),
 ("02", "no PKCE", "handlers/auth.go", "if s.pkce {", "if false {"),
 ("03", "redirect host taken from X-Forwarded-Host", "handlers/auth.go", "if !strings.EqualFold(c.Request().Host, s.redirect.Host) {\n\t\tto := url.URL{Scheme: s.redirect.Scheme, Host: s.redirect.Host,", 'if h := c.Request().Header.Get("X-Forwarded-Host"); h != "" {\n\t\tto := url.URL{Scheme: s.redirect.Scheme, Host: h,'),
 ("04", "open redirect via ?next=", "handlers/auth.go", "\tscopes, err := s.requestedScopes(c.QueryParam(\"access\"))", "\tif n := c.QueryParam(\"next\"); n != \"\" {\n\t\treturn c.Redirect(http.StatusFound, n)\n\t}\n\tscopes, err := s.requestedScopes(c.QueryParam(\"access\"))"),
 ("05", "duplicate parameters accepted", "handlers/auth.go", "if len(values) > 1 {", "if false {"),
 ("05", "oversized values accepted", "handlers/auth.go", "if len(values[0]) > maxCallbackValue {", "if false {"),
 ("05", "oversized query accepted", "handlers/auth.go", "if len(raw) > maxCallbackQuery {", "if false {"),
 ("05", "bad escapes accepted", "handlers/auth.go", "q, err := url.ParseQuery(raw)\n\tif err != nil {", "q, err := url.ParseQuery(raw)\n\tif err != nil && false {"),
 ("05", "empty code sent to the token endpoint", "handlers/auth.go", 'if code == "" {', "if false {"),
 ("05", "replay not recognised", "handlers/auth.go", "sess.LoginState == stateHash(state)", "sess.LoginState == \"\" && false"),
 ("05", "error_description not escaped", "views/layout.html", "{{.Text}}</p>", "{{safe .Text}}</p>"),
 ("06", "login cookie kept after use", "handlers/session.go", "\tif found {\n\t\ts.clear(w, loginCookie)\n\t}", ""),
 ("06", "login cookie lives 30 minutes", "handlers/session.go", "loginTTL = 10 * time.Minute", "loginTTL = 30 * time.Minute"),
 ("07", "HttpOnly off", "handlers/session.go", "HttpOnly: true, Secure: s.secure", "HttpOnly: false, Secure: s.secure"),
 ("07", "SameSite=None", "handlers/session.go", "SameSite: http.SameSiteLaxMode}", "SameSite: http.SameSiteNoneMode}"),
 ("07", "Secure off over https", "handlers/session.go", "HttpOnly: true, Secure: s.secure,", "HttpOnly: true, Secure: false,"),
 ("07", "no __Host- prefix", "handlers/session.go", 's.names[n] = "__Host-" + n', "s.names[n] = n"),
 ("07", "cookie signed but not encrypted", "handlers/session.go", "pairs = append(pairs, auth, enc)", "_ = enc\n\t\tpairs = append(pairs, auth, nil)"),
 ("08", "no absolute lifetime", "handlers/session.go", "return now.Sub(sess.Created) > s.maxAge || now.Sub(sess.LastSeen) > s.idle", "return now.Sub(sess.LastSeen) > s.idle"),
 ("08", "no idle timeout", "handlers/session.go", "return now.Sub(sess.Created) > s.maxAge || now.Sub(sess.LastSeen) > s.idle", "return now.Sub(sess.Created) > s.maxAge"),
 ("09", "bad cookie not cleared", "handlers/session.go", "\tcase err != nil || v.AccessToken == \"\":\n\t\ts.clear(w, sessionCookie)", "\tcase err != nil || v.AccessToken == \"\":"),
 ("09", "cookie store failure ignored", "handlers/auth.go", "if err := s.sessions.beginLogin(c.Response(), login); err != nil {\n\t\treturn err", "if err := s.sessions.beginLogin(c.Response(), login); err != nil {\n\t\t_ = err"),
 ("10", "no cross-origin check", "handlers/middleware.go", "\te.Use(s.sameOriginWrites)\n", ""),
 ("10", "logout on any method", "handlers/server.go", 'e.POST("/logout", s.handleLogout)', 'e.Any("/logout", s.handleLogout)'),
 ("10", "logout does not revoke", "handlers/auth.go", "err = s.do.Revoke(ctx, tok.AccessToken)", "_ = tok"),
 ("11", "no CSP", "handlers/middleware.go", '\th.Set("Content-Security-Policy", s.csp)\n', ""),
 ("11", "CSP without frame-ancestors", "handlers/middleware.go", "frame-ancestors 'none'; ", ""),
 ("11", "no nosniff", "handlers/middleware.go", '\th.Set("X-Content-Type-Options", "nosniff")\n', ""),
 ("11", "no Referrer-Policy", "handlers/middleware.go", '\th.Set("Referrer-Policy", "no-referrer") // the callback URL holds a code: never send it onward\n', ""),
 ("11", "pages cacheable", "handlers/middleware.go", '\th.Set("Cache-Control", "no-store")\n', ""),
 ("11", "no HSTS", "handlers/middleware.go", '\t\th.Set("Strict-Transport-Security", "max-age=31536000")\n', ""),
 ("12", "request log has the query", "handlers/middleware.go", 'slog.String("path", trim(v.URIPath, maxLoggedPath)),', 'slog.String("path", c.Request().RequestURI),'),
 ("12", "Config logs the secret", "config.go", 'slog.String("client_secret", redact(c.ClientSecret)),', 'slog.String("client_secret", c.ClientSecret),'),
 ("13", "read & write by default", "handlers/auth.go", '\tcase "":\n\t\treturn s.scopes, nil', '\tcase "":\n\t\treturn []string{"read", "write"}, nil'),
 ("14", "short session secret accepted", "config.go", "const minSecretLen = 32", "const minSecretLen = 8"),
 ("15", "Refresh now on any method", "handlers/server.go", 'e.POST("/refresh", s.handleRefresh)', 'e.Any("/refresh", s.handleRefresh)'),
 ("15", "Refresh now refreshes again at once", "handlers/refresh.go", "if !sess.Refreshed.IsZero() && s.now().Sub(sess.Refreshed) < justRefreshed {", "if false {"),
 ("16", "state shown whole in the panel", "doclient/trace.go", 'func MaskState(s string) string { return lead(s, 6) + "…" }', 'func MaskState(s string) string { return s + "…" }'),
 ("16", "code shown whole in the panel", "doclient/trace.go", 'return lead(s, 6) + "… (" + strconv', 'return s + "… (" + strconv'),
 ("16", "verifier and client secret shown in the panel", "doclient/trace.go", 'return "•••• (" + strconv', 'return s + "•••• (" + strconv'),
 ("16", "tokens shown whole in the panel", "doclient/trace.go", 'return lead(s, head+4) + "…"', '_ = head\n\treturn s + "…"'),
 ("17", "flow record keeps every event", "handlers/flow/record.go", "if n := len(r.Events) - MaxEvents; n > 0 {", "if n := len(r.Events) - MaxEvents; n > 1<<30 {"),
 ("17", "flow cookie size unchecked", "handlers/record.go", "if sealedLen(len(raw)) <= maxRecordCookie {", "if true {"),
 ("17", "flow cookie signed but not encrypted", "handlers/session.go", "pairs = append(pairs, auth, enc)", "_ = enc\n\t\tpairs = append(pairs, auth, nil)"),
 ("18", "unknown droplet filter accepted", "handlers/filter.go", "if !slices.Contains(dropletParams(), key) {", "if false {"),
 ("18", "droplet status filter unchecked", "handlers/filter.go", 'if v != "" && !slices.Contains(dropletStatuses(), v) {', "if false {"),
 ("18", "droplet tag filter unchecked", "handlers/filter.go", "if len(v) > maxTagLength || !validTag(v) {", "if false {"),
 ("19", "filter parameters turn a callback into the droplet page", "handlers/auth.go", "err == nil && !isCallback(loose)", "err == nil && (!isCallback(loose) || loose.Has(\"name\") || loose.Has(\"sort\") || loose.Has(\"status\"))"),
 ("20", "late replay not told apart", "handlers/auth.go", "case errors.Is(err, doclient.ErrCodeUsed):", "case false && errors.Is(err, doclient.ErrCodeUsed):"),
 ("20", "a code's tokens handed out for ten minutes", "doclient/shared.go", "CodeShareWindow = 5 * time.Second", "CodeShareWindow = 10 * time.Minute"),
 ("21", "values stored in the clear", "sharedstore/store.go", "return s.aead.Seal(nonce, nonce, value, []byte(key))", "return value"),
 ("21", "keys name the credential", "sharedstore/store.go", "return keyPrefix + hex.EncodeToString(m.Sum(nil))", "return keyPrefix + hex.EncodeToString([]byte(name))"),
 ("22", "a rate-limited token request retried", "doclient/shared.go", "\ttok, err := fn(ctx)\n\treturn tok, now(), err", "\ttok, err := fn(ctx)\n\tif _, ok := IsRateLimited(err); ok {\n\t\ttime.Sleep(time.Second)\n\t\ttok, err = fn(ctx)\n\t}\n\treturn tok, now(), err"),
 ("22", "a waiting instance presents the credential itself after a store error", "doclient/shared.go", "\t\t\tif !heldElsewhere {", "\t\t\tif !heldElsewhere || true {"),
 ("25", "action forms not same-origin checked", "handlers/middleware.go", "if err := s.crossOrigin.Check(c.Request()); err != nil {", "if err := s.crossOrigin.Check(c.Request()); err != nil && c.Path() == \"/logout\" {"),
 ("26", "an action on GET", "handlers/server.go", 'e.POST("/droplets/:id/actions", s.handleActionButtonOrConfirmation)', 'e.Match([]string{http.MethodGet, http.MethodPost}, "/droplets/:id/actions", s.handleActionButtonOrConfirmation)'),
 ("27", "step-up started by a GET link", "handlers/server.go", 'e.POST("/droplets/:id/step-up", s.handleStepUp)', 'e.Match([]string{http.MethodGet, http.MethodPost}, "/droplets/:id/step-up", s.handleStepUp)'),
 ("27", "step-up's action read from the query", "handlers/actions.go", 'stepUpFor(c.Request().PostFormValue("type"))', 'stepUpFor(c.FormValue("type"))'),
 ("27", "step-up not bound to the session that asked", "handlers/actions.go", "if !ok || p.Session == \"\" || sess.LoginState != p.Session {", "if !ok && false {"),
 ("27", "step-up accepted from another account", "handlers/actions.go", "if acct.UUID != p.Account || acct.TeamUUID != p.TeamUUID {", "if false {"),
 ("28", "confirmation token not checked", "handlers/confirm.go", "func(p confirmation) bool { return sameState(token, p.Token) }", "func(p confirmation) bool { return true }"),
 ("28", "confirmation not bound to its droplet and action", "handlers/confirm.go", "case i >= 0 && found.For == purpose && ", "case i >= 0 && "),
 ("28", "confirmation kept after use", "handlers/confirm.go", "\t\tall.Pending = slices.Delete(all.Pending, i, i+1)\n", ""),
 ("28", "confirmation never expires", "handlers/confirm.go", " && s.now().Sub(found.Issued) <= confirmTTL:", ":"),
 ("33", "an action POST's empty answer taken as an action", "doclient/actions.go", "case a == nil || a.ID < 1:", "case false:"),
 ("33", "a droplet's empty answer taken as the droplet", "doclient/actions.go", "case d == nil || d.ID != id:", "case false:"),
 ("33", "an action's empty answer taken as the action", "doclient/actions.go", "case a == nil || a.ID != id:", "case false:"),
 ("33", "an unreadable answer after the POST told as an error", "handlers/actions.go", "\tif doclient.IsMalformed(err) {\n\t\treturn &Problem{Status: http.StatusBadGateway, Title: \"DigitalOcean did not say which action it started\"", "\tif false {\n\t\treturn &Problem{Status: http.StatusBadGateway, Title: \"DigitalOcean did not say which action it started\""),
 ("34", "any request ID accepted", "handlers/middleware.go", "if !wellFormedRequestID(id) {", "if id == \"\" {"),
 ("34", "the request log quotes the whole path", "handlers/middleware.go", 'slog.String("path", trim(v.URIPath, maxLoggedPath)),', 'slog.String("path", v.URIPath),'),
 ("34", "the error log quotes the whole path", "handlers/errors.go", 'slog.String("path", trim(c.Request().URL.Path, maxLoggedPath)),', 'slog.String("path", c.Request().URL.Path),'),
 ("35", "only the last confirmation kept", "handlers/confirm.go", "all.Pending = append(all.Pending, conf)", "all.Pending = []confirmation{conf}"),
 ("35", "pending confirmations unbounded", "handlers/confirm.go", "if len(all.Pending) >= maxPendingConfirmations {", "if false {"),
 ("35", "a replaced confirmation said to be used", "handlers/confirm.go", "all.Replaced = remember(all.Replaced, stateHash(all.Pending[0].Token))", "all.Used = remember(all.Used, stateHash(all.Pending[0].Token))"),
 ("36", "short values shown whole by the masks", "doclient/trace.go", "return prefix(s, min(n, utf8.RuneCountInString(s)/4))", "return prefix(s, n)"),
 ("49", "use another account on GET", "handlers/server.go", 'e.POST("/use-another-account", s.handleUseAnotherAccount)', 'e.Match([]string{http.MethodGet, http.MethodPost}, "/use-another-account", s.handleUseAnotherAccount)'),
 ("49", "use another account not same-origin checked", "handlers/middleware.go", "if err := s.crossOrigin.Check(c.Request()); err != nil {", "if err := s.crossOrigin.Check(c.Request()); err != nil && c.Path() != \"/use-another-account\" {"),
 ("49", "use another account signs out without revoking", "handlers/auth.go", "\tsess, outcome := s.disconnect(c)\n\tif sess != nil {", "\tsess, _ := s.sessions.peek(c.Request())\n\ts.sessions.end(c.Response())\n\toutcome := revoked\n\tif sess != nil {"),
 ("39", "the create form and its confirmation not same-origin checked", "handlers/middleware.go", "if err := s.crossOrigin.Check(c.Request()); err != nil {", "if err := s.crossOrigin.Check(c.Request()); err != nil && c.Path() != \"/droplets\" {"),
 ("39", "the destroy confirmation not same-origin checked", "handlers/middleware.go", "if err := s.crossOrigin.Check(c.Request()); err != nil {", "if err := s.crossOrigin.Check(c.Request()); err != nil && c.Path() != \"/droplets/:id/destroy\" {"),
 ("39", "the create's step-up not same-origin checked", "handlers/middleware.go", "if err := s.crossOrigin.Check(c.Request()); err != nil {", "if err := s.crossOrigin.Check(c.Request()); err != nil && c.Path() != \"/droplets/new/step-up\" {"),
 ("40", "a create on GET", "handlers/server.go", 'e.POST("/droplets", s.handleCreateButtonOrConfirmation)', 'e.Match([]string{http.MethodGet, http.MethodPost}, "/droplets", s.handleCreateButtonOrConfirmation)'),
 ("40", "the create's step-up started by a GET link", "handlers/server.go", 'e.POST("/droplets/new/step-up", s.handleCreateStepUp)', 'e.Match([]string{http.MethodGet, http.MethodPost}, "/droplets/new/step-up", s.handleCreateStepUp)'),
 ("40", "a destroy on GET", "handlers/server.go", 'e.GET("/droplets/:id/destroy", s.handleDestroyConfirm)', 'e.GET("/droplets/:id/destroy", s.handleDestroy)'),
 ("41", "a create's confirmation bound to the name only", "handlers/provision.go", 'return "create droplet " + sp.hash()', 'return "create droplet " + sp.Name'),
 ("41", "the spec's hash leaves out the size", "handlers/provision.go", "b, _ := json.Marshal(sp)", "b, _ := json.Marshal(dropletSpec{Name: sp.Name, Region: sp.Region, Image: sp.Image, Keys: sp.Keys, Tags: sp.Tags})"),
 ("41", "the spec's hash leaves out the keys and tags", "handlers/provision.go", "b, _ := json.Marshal(sp)", "b, _ := json.Marshal(dropletSpec{Name: sp.Name, Region: sp.Region, Size: sp.Size, Image: sp.Image})"),
 ("41", "a destroy's confirmation not bound to the droplet", "handlers/destroy.go", 'return "destroy droplet " + strconv.Itoa(id) + " named " + name', 'return "destroy droplet named " + name'),
 ("41", "a destroy's confirmation not bound to the name shown", "handlers/destroy.go", 'return "destroy droplet " + strconv.Itoa(id) + " named " + name', 'return "destroy droplet " + strconv.Itoa(id)'),
 ("41", "the typed name not checked", "handlers/destroy.go", "if typed != expect {", "if false {"),
 ("42", "a POST /v2/droplets per submission", "doclient/provision.go", 'if once == "" {\n\t\treturn create(ctx)', 'if true {\n\t\treturn create(ctx)'),
 ("42", "a DELETE per submission", "doclient/provision.go", 'if once == "" {\n\t\t_, err := destroy(ctx)', 'if true {\n\t\t_, err := destroy(ctx)'),
 ("43", "an unchecked droplet waits in the login cookie", "handlers/provision.go", "if f.check(nil, true).Any() {", "if false {"),
 ("29", "panel's field names not escaped", "views/partials/flow.html", "<code>{{.Name}}</code>", "<code>{{safe .Name}}</code>"),
 ("29", "panel's field values not escaped", "views/partials/flow.html", "<td>{{.Value}}</td>", "<td>{{safe .Value}}</td>"),
 ("29", "a step's note not escaped", "views/partials/flow.html", "{{- with .Note}} · {{.}}{{end}}", "{{- with .Note}} · {{safe .}}{{end}}"),
 ("29", "an event's note not escaped", "views/partials/flow.html", "<strong>{{.Title}}</strong> · {{.Note}}", "<strong>{{.Title}}</strong> · {{safe .Note}}"),
 ("30", "a menu option's value not escaped", "views/partials/forms.html", '<option value="{{.Value}}"', '<option value="{{safe .Value}}"'),
 ("30", "a menu option's label not escaped", "views/partials/forms.html", ">{{.Label}}</option>", ">{{safe .Label}}</option>"),
 ("31", "no limit on approvals per address", "sandbox/limits.go", "consent:   newRateLimiter(budget(500), time.Minute, n),", "consent:   newRateLimiter(1<<30, time.Minute, n),"),
 ("31", "a registered client's approvals spend the app's budget at an address", "sandbox/limits.go", 'key = "registered " + t.address(r)', 'key = "app " + t.address(r)'),
 ("31", "no limit on approvals per registered client", "sandbox/limits.go", "consentBy: newRateLimiter(budget(50), time.Minute, n),", "consentBy: newRateLimiter(1<<30, time.Minute, n),"),
 ("31", "no limit on token requests per address", "sandbox/limits.go", "token:     newRateLimiter(budget(100), time.Minute, n),", "token:     newRateLimiter(1<<30, time.Minute, n),"),
 ("31", "no limit on token requests per registered client", "sandbox/limits.go", "tokenBy:   newRateLimiter(budget(10), time.Minute, n),", "tokenBy:   newRateLimiter(1<<30, time.Minute, n),"),
 ("31", "the app's client limited at the token endpoint", "sandbox/limits.go", "if t.off || !c.registered {", "if t.off {"),
 ("31", "no limit on registrations per address", "sandbox/limits.go", "register:  newRateLimiter(budget(1000), time.Hour, n),", "register:  newRateLimiter(1<<30, time.Hour, n),"),
 ("31", "the sender's own X-Forwarded-For trusted", "sandbox/limits.go", "\thost, _, err := net.SplitHostPort(r.RemoteAddr)\n", "\thost, _, err := net.SplitHostPort(r.RemoteAddr)\n\tif xff := r.Header.Get(\"X-Forwarded-For\"); xff != \"\" {\n\t\treturn xff\n\t}\n"),
 ("31", "IPv6 counted per address, not per /64", "sandbox/limits.go", "p, _ := a.Prefix(64)", "p, _ := a.Prefix(128)"),
 ("31", "a registered client past its share keeps its oldest", "sandbox/shares.go", "case app && held >= sh.appShare, !app && held >= sh.perClient:", "case app && held >= sh.appShare:"),
 ("31", "the app's client shares the registered clients' room", "sandbox/shares.go", 'return sh.app != "" && clientID == sh.app', "return false"),
 ("31", "the registered clients' room unbounded", "sandbox/shares.go", "case !app && sh.pooled >= sh.pool:", "case false && sh.pooled >= sh.pool:"),
 ("31", "nothing ever evicted", "sandbox/shares.go", "func (sh *shares[T]) victim(clientID string) (e T, ok bool) {\n", "func (sh *shares[T]) victim(clientID string) (e T, ok bool) {\n\tif true {\n\t\treturn e, false\n\t}\n"),
 ("38", "registration takes any host url.Parse accepts", "sandbox/clients.go", "\tcase hostProblem(u) != \"\":\n\t\treturn hostProblem(u)\n", ""),
 ("38", "the sandbox's configured redirect URIs take any host", "sandbox/sandbox.go", 'if problem := hostProblem(u); problem != "" {', 'if problem := hostProblem(u); false && problem != "" {'),
 ("38", "host names' labels unchecked", "sandbox/hosts.go", "\tif !validHostname(host) {", "\tif false {"),
 ("38", "a numeric last label taken for a name", "sandbox/hosts.go", "return !numeric(labels[len(labels)-1])", "return true"),
 ("38", "any port accepted", "sandbox/hosts.go", 'case port != "" && !validPort(port):', 'case port != "" && false && !validPort(port):'),
 ("38", "IPv6 literals with a zone or not as browsers write them", "sandbox/hosts.go", ' || a.Zone() != "" || a.String() != host', ""),
 ("32", "plain redis:// to another machine accepted", "config.go", 'if u.Scheme == "redis" && !loopback(u.Hostname()) && !allowPlaintext {', "if u.Scheme == \"redis\" && !loopback(u.Hostname()) && !allowPlaintext && false {"),
 ("32", "Redis's replies read unguarded", "sharedstore/store.go", "\tropts.Dialer = guardDialer(redis.NewDialer(ropts))\n", ""),
 ("32", "Redis's string lengths believed", "sharedstore/guard.go", "if n > maxReply-s.used-2 {", "if false {"),
 ("32", "Redis's element counts believed", "sharedstore/guard.go", "if n > maxElements {", "if false {"),
 ("37", "an https deployment sends secrets to plain http URLs", "config.go", 'case u.Scheme == "http" && deployed(cfg) && !loopback(u.Hostname()):', "case false:"),
 ("44", "learn state kept in the session cookie", "handlers/learnstate.go", 'const learnCookie = "do_learn"', "const learnCookie = sessionCookie"),
 ("44", "learn state outlives its lifetime", "handlers/learnstate.go", " || s.now().Sub(st.Saved) > loginTTL", ""),
 ("44", "learn cookie lives as long as the session", "handlers/learnstate.go", "s.sessions.setCookie(c.Response(), learnCookie, encoded, loginTTL)", "s.sessions.setCookie(c.Response(), learnCookie, encoded, s.sessions.maxAge)"),
 ("44", "learn cookie signed but not encrypted", "handlers/session.go", "pairs = append(pairs, auth, enc)", "_ = enc\n\t\tpairs = append(pairs, auth, nil)"),
 ("45", "learn presses not same-origin checked", "handlers/middleware.go", "if err := s.crossOrigin.Check(c.Request()); err != nil {", 'if err := s.crossOrigin.Check(c.Request()); err != nil && !strings.HasPrefix(c.Path(), "/learn") {'),
 ("45", "Send on GET", "handlers/server.go", 'e.POST("/learn/4/send", s.handleLearnSend)', 'e.Match([]string{http.MethodGet, http.MethodPost}, "/learn/4/send", s.handleLearnSend)'),
 ("45", "a double Send sends the code twice", "handlers/learn.go", 'a := s.learn.SendOnce(c.Request().Context(), "send", req, learn.ShareFor)', "a := s.learn.Send(c.Request().Context(), req)"),
 ("45", "presses shared only while in flight", "handlers/learn/learn.go", "const ShareFor = 5 * time.Second", "const ShareFor = 0"),
 ("46", "learn pages given a client with DigitalOcean", "main.go", "\tif cfg.Sandbox {\n\t\tlearnCfg = &learn.Config{", "\tif true {\n\t\tlearnCfg = &learn.Config{"),
 ("46", "learn presses act with DigitalOcean", "handlers/learn.go", "\tif s.learn != nil {\n\t\treturn nil\n\t}\n\treturn &Problem{Status: http.StatusNotFound, Title: \"Only in sandbox mode\",", "\treturn nil\n\treturn &Problem{Status: http.StatusNotFound, Title: \"Only in sandbox mode\","),
 ("47", "Send before the state check", "handlers/learn.go", "\tcase step >= 4 && !f.Checked:\n\t\treturn missingCheck.ptr()\n", ""),
 ("47", "any state passes the check", "handlers/learn.go", "f.Checked = sameState(got, f.State)", 'f.Checked = got != ""'),
 ("47", "an oversized learn callback taken", "handlers/learn.go", "if len(raw) > maxLearnCallback {", "if false {"),
 ("48", "learn pages compressed", "handlers/middleware.go", 'return strings.HasPrefix(c.Request().URL.Path, "/learn")', "return false"),
]

SCRATCH = tempfile.mkdtemp(prefix="mutate-security-")

def main():
    only = sys.argv[1:]
    for i, (num, desc, path, old, new) in enumerate(M):
        if only and str(i) not in only:
            continue
        work = os.path.join(SCRATCH, "src")
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(SRC, work, ignore=shutil.ignore_patterns(".git", "docs"))
        p = os.path.join(work, path)
        s = open(p).read()
        n = s.count(old)
        if n != 1:
            print(f"#{i} {num} {desc}: pattern found {n} times, SKIPPED", flush=True)
            continue
        s = s.replace(old, new)
        open(p, "w").write(s)
        if "{{safe " in new:  # give the template a function that marks text as HTML
            rp = os.path.join(work, "handlers/render.go")
            r = open(rp).read()
            r2 = re.sub(r'(template\.FuncMap\{)', r'\1\n\t\t"safe": func(s string) template.HTML { return template.HTML(s) },', r, count=1)
            if r2 == r:
                print(f"#{i} {num} {desc}: no FuncMap to extend, SKIPPED", flush=True); continue
            open(rp, "w").write(r2)
        out = subprocess.run(["go", "test", "-count=1", "-run", "TestSecurity", "./handlers", "."],
                             cwd=work, capture_output=True, text=True, timeout=600).stdout
        fails = sorted(set(re.findall(r"--- FAIL: (TestSecurity\w+)", out)))
        build = "build failed" if "[build failed]" in out or "setup failed" in out else ""
        verdict = "CAUGHT" if any(f.startswith("TestSecurity" + num) for f in fails) else ("caught by another" if fails else "NOT CAUGHT")
        print(f"#{i} {num} {desc}: {verdict} {build} {' '.join(fails)}", flush=True)
        if build:
            print(out[:2000])

try:
    main()
finally:
    shutil.rmtree(SCRATCH, ignore_errors=True)
