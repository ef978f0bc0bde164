package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"dosignin/handlers/learn"
	"dosignin/internal/curlcmd"
	"dosignin/internal/testclock"
	"dosignin/sandbox"
)

// learnRoot is the root of the sandbox inside the app, which section 12
// of the tutorial sends its commands to; learnCallback the learn clients'
// redirect URI there.
const (
	learnRoot     = "http://localhost:5000/sandbox"
	learnCallback = "http://localhost:5000" + learn.CallbackPath
)

// tutorialCommand is a curl command of the tutorial and the answer it
// documents: "# 400 invalid_grant" is a status and an error code.
type tutorialCommand struct {
	curl   string
	status int
	error  string // "" when the comment names none (a JSON body, "(no body)")
}

// learnSection returns section 12 of docs/TUTORIAL.md: its commands, in
// order, and its authorization link.
func learnSection(t *testing.T) (commands []tutorialCommand, link string) {
	t.Helper()
	doc, err := os.ReadFile("docs/TUTORIAL.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "\n## 12. Learn by doing")
	if start < 0 {
		t.Fatal("docs/TUTORIAL.md has no section 12, Learn by doing")
	}
	text = text[start:]
	if end := strings.Index(text[1:], "\n## "); end >= 0 {
		text = text[:end+1]
	}
	link = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(learnRoot) + `/v1/oauth/authorize\?\S+$`).FindString(text)
	answer := regexp.MustCompile(`^# (\d{3})(?: ([a-z_]+))?\b`)
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(text, -1) {
		lines := strings.Split(block[1], "\n")
		for i := 0; i < len(lines); i++ {
			if !strings.HasPrefix(lines[i], "curl ") {
				continue
			}
			cmd := lines[i]
			for strings.HasSuffix(lines[i], "\\") && i+1 < len(lines) {
				i++
				cmd += "\n" + lines[i]
			}
			if i+1 >= len(lines) {
				t.Fatalf("the command has no documented answer after it:\n%s", cmd)
			}
			m := answer.FindStringSubmatch(lines[i+1])
			if m == nil {
				t.Fatalf("the command is not followed by its answer (# STATUS ...):\n%s\n%s", cmd, lines[i+1])
			}
			status, _ := strconv.Atoi(m[1])
			commands = append(commands, tutorialCommand{curl: cmd, status: status, error: m[2]})
		}
	}
	return commands, link
}

// TestTutorialLearnCommandsWork runs every curl command of the tutorial's
// section 12, read without a shell, against a sandbox that knows the learn
// clients, in order, with the capitalized words replaced by a flow's
// values as a learner would, and checks each documented answer. A
// device's poll documented as 200 is preceded by the learner's approval on
// the user-code page.
func TestTutorialLearnCommandsWork(t *testing.T) {
	t.Parallel()
	commands, link := learnSection(t)
	if len(commands) < 15 || link == "" {
		t.Fatalf("found %d commands and the link %q in section 12", len(commands), link)
	}
	clock := testclock.New(time.Now())
	sb, err := sandbox.New(sandbox.Config{Clients: learnClients(learnCallback), Now: clock.Now, Droplets: 3})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", http.StripPrefix("/sandbox", sb))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	root := srv.URL + "/sandbox"
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Steps 1 to 3 as the learner does them: the tutorial's link, with a
	// state and a challenge, approved on the consent page.
	verifier := learn.NewVerifier()
	values := map[string]string{"STATE": learn.NewState(), "CODE_CHALLENGE": learn.Challenge(verifier), "CODE_VERIFIER": verifier}
	fill := func(s string) string {
		for _, k := range []string{"OLD_REFRESH_TOKEN", "REFRESH_TOKEN", "ACCESS_TOKEN", "APP_TOKEN", "DEVICE_CODE", "CODE_VERIFIER", "CODE_CHALLENGE", "USER_CODE", "STATE", "CODE"} {
			if v, ok := values[k]; ok {
				s = strings.ReplaceAll(s, k, v)
			}
		}
		return strings.ReplaceAll(s, learnRoot, root)
	}
	location := submitForm(t, noFollow, fill(link), "approve")
	cb, err := url.Parse(location)
	if err != nil || cb.Scheme+"://"+cb.Host+cb.Path != learnCallback || cb.Query().Get("state") != values["STATE"] {
		t.Fatalf("the consent page sent the browser to %q", location)
	}
	values["CODE"] = cb.Query().Get("code")

	for _, c := range commands {
		if strings.Contains(c.curl, "device_code=DEVICE_CODE") && c.status == http.StatusOK {
			submitForm(t, noFollow, root+"/device?user_code="+url.QueryEscape(values["USER_CODE"]), "approve")
			clock.Advance(15 * time.Second) // past the interval, slow_down's 5 seconds included
		}
		req, err := curlcmd.Parse(fill(c.curl))
		if err != nil {
			t.Fatalf("%v\n%s", err, c.curl)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answer map[string]any
		_ = json.Unmarshal(body, &answer)
		got := ""
		for _, k := range []string{"error", "id"} {
			if s, ok := answer[k].(string); ok && resp.StatusCode >= 400 {
				got = s
			}
		}
		if resp.StatusCode != c.status || (c.error != "" && got != c.error) {
			t.Errorf("the command\n%s\nanswered %d %s, the tutorial says %d %s:\n%s", c.curl, resp.StatusCode, got, c.status, c.error, body)
			continue
		}
		// The learner copies what the answer gave into the next commands.
		str := func(k string) string { s, _ := answer[k].(string); return s }
		switch {
		case str("refresh_token") != "" && str("device_code") == "" && !strings.Contains(c.curl, "device_code"):
			if old := values["REFRESH_TOKEN"]; old != "" {
				values["OLD_REFRESH_TOKEN"] = old
			}
			values["ACCESS_TOKEN"], values["REFRESH_TOKEN"] = str("access_token"), str("refresh_token")
		case str("access_token") != "" && str("refresh_token") == "":
			values["APP_TOKEN"] = str("access_token")
		case str("device_code") != "":
			values["DEVICE_CODE"], values["USER_CODE"] = str("device_code"), str("user_code")
		}
	}
}

// submitForm opens a sandbox page with a form (the consent page, the
// user-code page), presses decision, and returns where the answer
// redirects.
func submitForm(t *testing.T, c *http.Client, page, decision string) string {
	t.Helper()
	resp, err := c.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", page, resp.StatusCode, err)
	}
	action, fields := "", url.Values{}
	var cookies []*http.Cookie = resp.Cookies()
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		get := func(name string) string {
			for _, a := range n.Attr {
				if a.Key == name {
					return a.Val
				}
			}
			return ""
		}
		switch {
		case n.Data == "form" && get("method") == "post":
			action = get("action")
		case n.Data == "input" && get("type") == "hidden":
			fields.Set(get("name"), get("value"))
		}
	}
	target, err := resp.Request.URL.Parse(action)
	if err != nil || action == "" {
		t.Fatalf("no form on %s", page)
	}
	fields.Set("decision", decision)
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pressing %s on %s: %d", decision, page, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}
