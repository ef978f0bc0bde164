package doclient_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"dosignin/doclient"
	"dosignin/internal/testclock"
)

func TestMasks(t *testing.T) {
	t.Parallel()
	hex := strings.Repeat("3f9a0123456789ab", 4) // 64 hex digits, as in DigitalOcean's tokens and codes
	for _, tt := range []struct{ got, want string }{
		// Values as long as the app's and DigitalOcean's.
		{doclient.MaskState("K4LVUCABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMN"), "K4LVUC…"}, // 52, two rand.Text()
		{doclient.MaskChallenge("aRbSgnDJ" + hex[:35]), "aRbSgnDJ…"},                            // 43, base64url of SHA-256
		{doclient.MaskCode("4028b4" + hex[:58]), "4028b4… (64 characters)"},
		{doclient.Hidden("client-secret"), "•••• (13 characters)"},
		{doclient.MaskToken("doo_v1_" + hex), "doo_v1_3f9a…"},
		{doclient.MaskToken("dor_v1_" + hex), "dor_v1_3f9a…"},
		{doclient.MaskToken(""), ""},
		// Short values show at most a quarter of their characters.
		{doclient.MaskToken("doo_v1_3f9a0123456789"), "doo_v…"}, // 21: 5
		{doclient.MaskToken("plaintokenvalue"), "pla…"},         // 15: 3
		{doclient.MaskToken("abcd"), "a…"},
		{doclient.MaskToken("ab"), "…"},
		{doclient.MaskCode("123456"), "1… (6 characters)"},
		{doclient.MaskCode("4028b4ffffffffff"), "4028… (16 characters)"},
		{doclient.MaskState("é✓"), "…"},
		{doclient.MaskState("é✓é✓é✓é✓"), "é✓…"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// Whatever the server sends, no mask shows more than a quarter of a
// value's characters, so none shows a value whole.
func TestMasksShowAtMostAQuarter(t *testing.T) {
	t.Parallel()
	masks := []struct {
		name   string
		mask   func(string) string
		length bool // the mask ends with the value's length
	}{
		{"MaskState", doclient.MaskState, false},
		{"MaskChallenge", doclient.MaskChallenge, false},
		{"MaskCode", doclient.MaskCode, true},
		{"MaskToken", doclient.MaskToken, false},
	}
	shapes := []struct{ name, head, fill string }{
		{"hex", "", "0123456789abcdef"},
		{"token", "doo_v1_", "0123456789abcdef"},
		{"underscores", "", "a_b_c_d_"},
		{"multibyte", "", "é✓€😀"},
	}
	for n := 0; n <= 80; n++ {
		for _, sh := range shapes {
			v := []rune(sh.head + strings.Repeat(sh.fill, 80))[:n]
			s := string(v)
			for _, m := range masks {
				got := m.mask(s)
				if m.name == "MaskToken" && s == "" {
					if got != "" {
						t.Errorf("MaskToken(\"\") = %q, want \"\"", got)
					}
					continue
				}
				shown, rest, ok := strings.Cut(got, "…")
				if !ok || !strings.HasPrefix(s, shown) {
					t.Errorf("%s(%q) = %q, want a prefix of the value, then …", m.name, s, got)
					continue
				}
				if k := len([]rune(shown)); k > n/4 {
					t.Errorf("%s of %d characters (%s) shows %d: %q, want at most %d", m.name, n, sh.name, k, got, n/4)
				}
				wantRest := ""
				if m.length {
					wantRest = fmt.Sprintf(" (%d characters)", n)
				}
				if rest != wantRest {
					t.Errorf("%s(%q) = %q, want %q after the …", m.name, s, got, wantRest)
				}
			}
			if got, want := doclient.Hidden(s), fmt.Sprintf("•••• (%d characters)", n); got != want {
				t.Errorf("Hidden(%q) = %q, want %q", s, got, want)
			}
		}
	}
}

// traceServer is DigitalOcean in one server: the OAuth endpoints under
// /v1/oauth (as the sandbox serves them beside the API) and the API. forms
// gets the parameter names of each token request, sorted.
func traceServer(t *testing.T, forms ...*[]string) *httptest.Server {
	n := 0
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		i := n
		mu.Unlock()
		switch r.URL.Path {
		case "/v1/oauth/token":
			if err := r.ParseForm(); err != nil {
				t.Error(err)
			}
			for _, f := range forms {
				mu.Lock()
				*f = append(*f, strings.Join(slices.Sorted(maps.Keys(r.PostForm)), " "))
				mu.Unlock()
			}
			writeJSON(w, 200, tokenResponse(fmt.Sprintf("doo_v1_access%064d", i), fmt.Sprintf("dor_v1_refresh%064d", i), 120))
		case "/v1/oauth/revoke":
			w.WriteHeader(200)
		case "/v2/droplets":
			w.Header().Set("Ratelimit-Remaining", "4999")
			writeJSON(w, 200, map[string]any{"droplets": []any{}, "meta": map[string]any{"total": 0}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTraceReportsEveryStepMasked(t *testing.T) {
	var forms []string
	srv := traceServer(t, &forms)
	clock := testclock.New(time.Now())
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL, func(cfg *doclient.Config) { cfg.Now = clock.Now })

	var mu sync.Mutex
	var all []string // everything reported, as text
	var links []doclient.AuthorizeLink
	var tokens []doclient.TokenRequest
	var revokes []doclient.RevokeRequest
	var calls []doclient.APICall
	note := func(v any) { all = append(all, fmt.Sprintf("%+v", v)) }
	ctx := doclient.WithTrace(context.Background(), &doclient.Trace{
		AuthorizeLink: func(l doclient.AuthorizeLink) { mu.Lock(); defer mu.Unlock(); note(l); links = append(links, l) },
		TokenRequest:  func(r doclient.TokenRequest) { mu.Lock(); defer mu.Unlock(); note(r); tokens = append(tokens, r) },
		Revoke:        func(r doclient.RevokeRequest) { mu.Lock(); defer mu.Unlock(); note(r); revokes = append(revokes, r) },
		APICall:       func(a doclient.APICall) { mu.Lock(); defer mu.Unlock(); note(a); calls = append(calls, a) },
	})

	// As long as the app's state (52 characters) and DigitalOcean's codes (64).
	hex := strings.Repeat("0123456789abcdef", 4)
	state, verifier, code := "STATE-"+hex[:46], oauth2.GenerateVerifier(), "CODE-"+hex[:59]
	link := c.AuthCodeURL(ctx, state, verifier, nil, doclient.SelectAccount)
	if q := mustQuery(t, link); q.Get("prompt") != "select_account" {
		t.Errorf("the link has no prompt=select_account: %s", link)
	}
	tok, _, err := c.Exchange(ctx, code, verifier)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{state, verifier, code, testClientSecret, tok.AccessToken, tok.RefreshToken}

	clock.Advance(90 * time.Second) // 30 s left: about to expire
	ts := c.TokenSource(ctx, tok)
	if _, err := c.Droplets(ctx, ts, doclient.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	refreshed, _ := ts.Refreshed()
	clock.Advance(5 * time.Minute) // expired
	ts = c.TokenSource(ctx, refreshed)
	expiredTok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	asked, err := c.Refresh(ctx, expiredTok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, asked.AccessToken); err != nil {
		t.Fatal(err)
	}
	for _, tk := range []*oauth2.Token{refreshed, expiredTok, asked} {
		secrets = append(secrets, tk.AccessToken, tk.RefreshToken)
	}

	text := strings.Join(all, "\n")
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("a trace event shows the secret %q:\n%s", s, text)
		}
	}

	if len(links) != 1 {
		t.Fatalf("%d authorize links reported", len(links))
	}
	params := url.Values{}
	for _, f := range links[0].Params {
		params.Set(f.Name, f.Value)
	}
	for name, want := range map[string]string{
		"client_id": testClientID, "redirect_uri": testRedirectURL, "response_type": "code", "scope": "read",
		"state": "STATE-…", "code_challenge_method": "S256", "prompt": "select_account",
	} {
		if got := params.Get(name); got != want {
			t.Errorf("link %s = %q, want %q", name, got, want)
		}
	}
	if ch := params.Get("code_challenge"); len([]rune(ch)) != 9 || !strings.HasSuffix(ch, "…") {
		t.Errorf("code_challenge %q, want 8 characters and …", ch)
	}
	if links[0].Endpoint != srv.URL+"/v1/oauth/authorize" {
		t.Errorf("endpoint %q", links[0].Endpoint)
	}

	if len(tokens) != 4 {
		t.Fatalf("%d token requests reported, want 4: %+v", len(tokens), tokens)
	}
	ex := tokens[0]
	sent := map[string]string{}
	for _, f := range ex.Sent {
		sent[f.Name] = f.Value
	}
	for name, want := range map[string]string{
		"grant_type": "authorization_code", "code": "CODE-0… (64 characters)", "redirect_uri": testRedirectURL,
		"code_verifier": "•••• (43 characters)", "client_id": testClientID, "client_secret": "•••• (25 characters)",
	} {
		if sent[name] != want {
			t.Errorf("token request %s = %q, want %q", name, sent[name], want)
		}
	}
	got := map[string]string{}
	for _, f := range ex.Received {
		got[f.Name] = f.Value
	}
	for name, want := range map[string]string{
		"token_type": "bearer", "expires_in": "120", "scope": "read", "access_token": "doo_v1_acce…",
		"refresh_token": "dor_v1_refr…", "info.name": "Sammy the Shark", "info.email": "sammy@example.com", "info.team_name": "Sammy's team",
	} {
		if got[name] != want {
			t.Errorf("token response %s = %q, want %q", name, got[name], want)
		}
	}
	if ex.Expiry.IsZero() || ex.Error != "" || ex.Shared {
		t.Errorf("exchange event %+v", ex)
	}
	// The trace names exactly the parameters that were sent.
	for i, tr := range tokens {
		var names []string
		for _, f := range tr.Sent {
			names = append(names, f.Name)
		}
		slices.Sort(names)
		if got := strings.Join(names, " "); i >= len(forms) || got != forms[i] {
			t.Errorf("token request %d: the trace names %q, the server received %q", i, got, forms)
		}
	}
	for i, want := range []doclient.RefreshReason{doclient.RefreshExpiresSoon, doclient.RefreshExpired, doclient.RefreshAsked} {
		if r := tokens[i+1]; r.GrantType != doclient.GrantRefreshToken || r.Reason != want {
			t.Errorf("refresh %d: %s %q, want %q", i+1, r.GrantType, r.Reason, want)
		}
	}

	if len(calls) != 1 {
		t.Fatalf("%d API calls reported, want 1 (token and revoke requests are not API calls): %+v", len(calls), calls)
	}
	if a := calls[0]; a.Method != "GET" || a.Path != "/v2/droplets?page=1&per_page=200" || a.Status != 200 || a.RateLimitRemaining != "4999" {
		t.Errorf("API call %+v", a)
	}
	if len(revokes) != 1 || revokes[0].Status != 200 || revokes[0].Token != doclient.MaskToken(asked.AccessToken) {
		t.Errorf("revoke %+v", revokes)
	}
}

func TestTraceOfASharedRefresh(t *testing.T) {
	srv := traceServer(t)
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	var tokens []doclient.TokenRequest
	ctx := doclient.WithTrace(context.Background(), &doclient.Trace{
		TokenRequest: func(r doclient.TokenRequest) { tokens = append(tokens, r) },
	})
	for range 2 {
		if _, err := c.Refresh(ctx, "dor_v1_same"); err != nil {
			t.Fatal(err)
		}
	}
	if len(tokens) != 2 || tokens[0].Shared || !tokens[1].Shared {
		t.Errorf("want a sent refresh, then a shared one: %+v", tokens)
	}
}

func TestNoTraceNoCost(t *testing.T) {
	srv := traceServer(t)
	c := newClient(t, srv.URL+"/v1/oauth", srv.URL)
	// Without a Trace, and with a Trace without hooks, nothing breaks.
	for _, ctx := range []context.Context{context.Background(), doclient.WithTrace(context.Background(), &doclient.Trace{})} {
		tok, _, err := c.Exchange(ctx, "code-"+fmt.Sprint(ctx), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Droplets(ctx, c.TokenSource(ctx, tok), doclient.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Revoke(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
}
