package learn

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxAnswerBody bounds what is read of an answer; the sandbox's are a few
// kilobytes.
const maxAnswerBody = 64 << 10

// Answer is a response as it came: status, headers and body. Pages show
// it raw, and the learn cookie keeps the ones a page shows after the
// redirect that follows a press.
type Answer struct {
	Status int     `json:"s,omitempty"`
	Header []Field `json:"h,omitempty"` // sorted by name, without Date and Content-Length
	Body   string  `json:"b,omitempty"`
	// Cut is how many bytes of the body, and Dropped how many headers,
	// were left out to fit the learn cookie.
	Cut     int `json:"cut,omitempty"`
	Dropped int `json:"dropped,omitempty"`
	// Failed says, in words, why no answer came (a timeout, no
	// connection); Status is then zero.
	Failed string `json:"f,omitempty"`
}

func readAnswer(resp *http.Response) Answer {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBody+1))
	if err != nil {
		return Answer{Failed: "The sandbox's answer was cut off."}
	}
	a := Answer{Status: resp.StatusCode}
	if len(body) > maxAnswerBody {
		a.Cut = len(body) - maxAnswerBody
		body = body[:maxAnswerBody]
	}
	a.Body = string(body)
	for name, values := range resp.Header {
		// The date and the length say nothing about OAuth, and would
		// crowd out what does.
		if name == "Date" || name == "Content-Length" {
			continue
		}
		for _, v := range values {
			a.Header = append(a.Header, Field{name, v})
		}
	}
	slices.SortStableFunc(a.Header, func(x, y Field) int { return strings.Compare(x.Name, y.Name) })
	return a
}

// StatusLine is the answer's first line, e.g. "HTTP/1.1 400 Bad Request".
func (a Answer) StatusLine() string {
	if a.Status == 0 {
		return ""
	}
	return "HTTP/1.1 " + strconv.Itoa(a.Status) + " " + http.StatusText(a.Status)
}

// OK reports a 2xx answer.
func (a Answer) OK() bool { return a.Status >= 200 && a.Status < 300 }

// Pretty is the body, indented when it is whole JSON, as it came otherwise.
func (a Answer) Pretty() string {
	if a.Cut == 0 && json.Valid([]byte(a.Body)) {
		var b bytes.Buffer
		if json.Indent(&b, []byte(a.Body), "", "  ") == nil {
			return b.String()
		}
	}
	return a.Body
}

// members decodes a JSON object body; nil when it is not one.
func (a Answer) members() map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(a.Body), &m) != nil {
		return nil
	}
	return m
}

// Get returns the string member name of a JSON object body, or "".
func (a Answer) Get(name string) string {
	var s string
	if raw, ok := a.members()[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// Int returns the number member name of a JSON object body, or 0.
func (a Answer) Int(name string) int {
	var n int
	if raw, ok := a.members()[name]; ok && json.Unmarshal(raw, &n) == nil {
		return n
	}
	return 0
}

// Has reports whether a JSON object body has the member name.
func (a Answer) Has(name string) bool {
	_, ok := a.members()[name]
	return ok
}

// Error is the OAuth error code of an error answer (RFC 6749 §5.2), or
// the API's error id ("unauthorized", "forbidden"), or "".
func (a Answer) Error() string {
	if e := a.Get("error"); e != "" {
		return e
	}
	if !a.OK() {
		return a.Get("id")
	}
	return ""
}

// Issued reports whether the answer issued a token.
func (a Answer) Issued() bool { return a.OK() && a.Get("access_token") != "" }

// oauthHeaders are the answer headers a lesson on OAuth needs: the body's
// type, that tokens must not be cached (RFC 6749 §5.1), how a client
// should authenticate or wait, and the API's rate limits. The others (CORS,
// nosniff, the request ID) are the first an answer leaves out when the
// learn cookie is short of room.
var oauthHeaders = []string{"Content-Type", "Cache-Control", "Pragma", "Www-Authenticate", "Retry-After", "Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"}

// ShrinkLevels is how many levels Shrink has.
const ShrinkLevels = 4

// Shrink makes the answer smaller for the learn cookie, at level: 1
// leaves out the headers but oauthHeaders, 2 all but Content-Type, 3 cuts
// the body to 600 bytes, 4 leaves the body out. It reports whether it
// changed anything; Dropped and Cut count what went.
func (a *Answer) Shrink(level int) bool {
	keep := func(names ...string) bool {
		kept := slices.DeleteFunc(slices.Clone(a.Header), func(f Field) bool { return !slices.Contains(names, f.Name) })
		if len(kept) == len(a.Header) {
			return false
		}
		a.Dropped += len(a.Header) - len(kept)
		a.Header = kept
		return true
	}
	switch level {
	case 1:
		return keep(oauthHeaders...)
	case 2:
		return keep("Content-Type")
	case 3:
		if len(a.Body) > 600 {
			a.Cut += len(a.Body) - 600
			a.Body = a.Body[:600]
			return true
		}
	case 4:
		if a.Body != "" {
			a.Cut += len(a.Body)
			a.Body = ""
			return true
		}
	}
	return false
}
