package doclient_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"dosignin/doclient"

	"golang.org/x/oauth2"
)

// The whole sign-in, against a stand-in for DigitalOcean's token endpoint so
// that the example runs offline. In the app, steps 1 and 3 are two handlers,
// and state and verifier travel between them in a short-lived, encrypted
// cookie.
func Example() {
	fakeDigitalOcean := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": "doo_v1_example", "token_type": "bearer", "expires_in": 2592000,
			"refresh_token": "dor_v1_example", "scope": "read",
			"info": map[string]string{"name": "Sammy", "email": "sammy@example.com", "uuid": "u-1", "team_uuid": "t-1", "team_name": "Sammy's team"},
		})
	}))
	defer fakeDigitalOcean.Close()

	client, err := doclient.New(doclient.Config{
		ClientID:     "my-client-id",
		ClientSecret: "my-client-secret", // from the environment, never from source code
		RedirectURL:  "http://localhost:5000/digitalocean",
		Scopes:       []string{"read"},
		OAuthURL:     fakeDigitalOcean.URL, // leave empty for the real DigitalOcean
	})
	if err != nil {
		log.Fatal(err)
	}

	// Step 1 (GET /connect): remember a fresh state and PKCE verifier, then
	// redirect the browser to DigitalOcean.
	state := rand.Text()
	verifier := oauth2.GenerateVerifier()
	authURL, _ := url.Parse(client.AuthCodeURL(context.Background(), state, verifier, nil))
	fmt.Println("redirect to", authURL.Path, "with our state:", authURL.Query().Get("state") == state)

	// Step 2 happens at DigitalOcean. Its redirect back carries code and
	// state; the callback first checks that state is the one remembered.
	callback := url.Values{"code": {"code-from-digitalocean"}, "state": {state}}
	if callback.Get("state") != state {
		log.Fatal("state mismatch: not our login")
	}

	// Step 3 (GET /digitalocean?code=...): trade the code for tokens.
	tok, account, err := client.Exchange(context.Background(), callback.Get("code"), verifier)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in:", account.Name, account.Email)
	fmt.Println("token type:", tok.TokenType, "refreshable:", tok.RefreshToken != "")
	// Output:
	// redirect to /authorize with our state: true
	// signed in: Sammy sammy@example.com
	// token type: bearer refreshable: true
}

func ExampleClient_AuthCodeURL() {
	client, err := doclient.New(doclient.Config{
		ClientID:     "my-client-id",
		ClientSecret: "my-client-secret",
		RedirectURL:  "http://localhost:5000/digitalocean",
		Scopes:       []string{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	// Fixed values so the output is stable; use rand.Text() and
	// oauth2.GenerateVerifier() for every login.
	fmt.Println(client.AuthCodeURL(context.Background(), "some-state", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", nil))
	// Output:
	// https://cloud.digitalocean.com/v1/oauth/authorize?client_id=my-client-id&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Fdigitalocean&response_type=code&scope=read&state=some-state
}

// A Trace attached to the context learns what the client sent, with the
// secrets already masked, here the authorization link of step 1.
func ExampleWithTrace() {
	client, err := doclient.New(doclient.Config{
		ClientID:     "my-client-id",
		ClientSecret: "my-client-secret",
		RedirectURL:  "http://localhost:5000/digitalocean",
		Scopes:       []string{"read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := doclient.WithTrace(context.Background(), &doclient.Trace{
		AuthorizeLink: func(link doclient.AuthorizeLink) {
			fmt.Println("GET", link.Endpoint)
			for _, p := range link.Params {
				fmt.Printf("  %s = %s\n", p.Name, p.Value)
			}
		},
	})
	state := "some-state-as-long-as-the-apps-two-rand-Texts-KLMNOP" // 52 characters; a mask shows at most a quarter
	client.AuthCodeURL(ctx, state, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", nil, doclient.SelectAccount)
	// Output:
	// GET https://cloud.digitalocean.com/v1/oauth/authorize
	//   client_id = my-client-id
	//   code_challenge = E9Melhoa…
	//   code_challenge_method = S256
	//   prompt = select_account
	//   redirect_uri = http://localhost:5000/digitalocean
	//   response_type = code
	//   scope = read
	//   state = some-s…
}

// A handler lists droplets with the session's token, and saves the token
// back if it was refreshed on the way. (Not run: it needs DigitalOcean.)
func ExampleClient_Droplets() {
	client, err := doclient.New(doclient.Config{
		ClientID:     "my-client-id",
		ClientSecret: "my-client-secret",
		RedirectURL:  "http://localhost:5000/digitalocean",
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()                                                 // the request's context
	session := &oauth2.Token{AccessToken: "doo_v1_…", RefreshToken: "dor_v1_…"} // from the cookie

	ts := client.TokenSource(ctx, session)
	// PagesHint: the Pages of this account's previous listing, if the app
	// remembered it (e.g. in the session), saves a round trip.
	list, err := client.Droplets(ctx, ts, doclient.ListOptions{PagesHint: 0})
	if tok, ok := ts.Refreshed(); ok {
		_ = tok // save tok into the session cookie now, even if err != nil
	}
	switch {
	case doclient.IsInvalidGrant(err) || doclient.IsUnauthorized(err):
		// Clear the session and ask the user to connect again.
	case doclient.IsUnavailable(err):
		// 502: DigitalOcean is unreachable, try again.
	case err != nil:
		log.Print(err)
	}
	if err == nil {
		for _, d := range list.Droplets {
			fmt.Println(d.Name, d.Status)
		}
		fmt.Println(list.Rate.Remaining, "API requests left this hour")
	}
}
