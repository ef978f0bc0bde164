package curlcmd

import (
	"io"
	"net/http"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, command       string
		method, url, body   string
		header, headerValue string
	}{
		{"a GET with a header", `curl -i -H 'Authorization: Bearer doo_v1_abc' 'http://localhost:5000/sandbox/v2/account'`,
			"GET", "http://localhost:5000/sandbox/v2/account", "", "Authorization", "Bearer doo_v1_abc"},
		{"a form POST over continued lines", "curl -i 'http://localhost:5000/sandbox/v1/oauth/token' \\\n  -H 'Accept: application/json' \\\n  -d 'grant_type=client_credentials' \\\n  -d 'redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Flearn%2Fcallback'",
			"POST", "http://localhost:5000/sandbox/v1/oauth/token", "grant_type=client_credentials&redirect_uri=http%3A%2F%2Flocalhost%3A5000%2Flearn%2Fcallback", "Content-Type", "application/x-www-form-urlencoded"},
		{"-X and unquoted arguments", `curl -s -X POST -H "Content-Type: application/json" -d {"a":1} http://localhost:5050/v1/oauth/register`,
			"POST", "http://localhost:5050/v1/oauth/register", `{a:1}`, "Content-Type", "application/json"},
		{"a quote in single quotes", `curl -d 'a='\''b' http://x.test/`, "POST", "http://x.test/", "a='b", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := Parse(tt.command)
			if err != nil {
				t.Fatal(err)
			}
			body := ""
			if req.Body != nil {
				b, _ := io.ReadAll(req.Body)
				body = string(b)
			}
			if req.Method != tt.method || req.URL.String() != tt.url || body != tt.body {
				t.Errorf("got %s %s %q, want %s %s %q", req.Method, req.URL, body, tt.method, tt.url, tt.body)
			}
			if tt.header != "" && req.Header.Get(tt.header) != tt.headerValue {
				t.Errorf("%s: %q, want %q", tt.header, req.Header.Get(tt.header), tt.headerValue)
			}
		})
	}
}

func TestParseRefusesWhatItDoesNotRead(t *testing.T) {
	t.Parallel()
	for _, command := range []string{
		"wget http://x.test/",
		"curl",
		"curl -H",
		"curl -u user:pass http://x.test/",
		"curl http://x.test/ http://y.test/",
		"curl -H $TOKEN http://x.test/",
		`curl -H "Authorization: Bearer $TOKEN" http://x.test/`,
		"curl 'http://x.test/",
		"curl http://x.test/ | jq .",
		"curl -H 'NoColon' http://x.test/",
	} {
		if req, err := Parse(command); err == nil {
			t.Errorf("Parse(%q) = %s %s, want an error", command, req.Method, req.URL)
		}
	}
	req, err := Parse("curl -i http://x.test/")
	if err != nil {
		t.Fatalf("a plain GET: %v", err)
	}
	if req.Method != http.MethodGet || req.Body != nil {
		t.Errorf("curl with no data sends %s with a body: %v", req.Method, req.Body != nil)
	}
}
