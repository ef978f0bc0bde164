package handlers

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/gorilla/securecookie"
)

// recordCodec turns a flow record into its cookie's value and back: a
// compact binary layout (below), signed and encrypted by securecookie with
// the keys of the other cookies. The layout is the whole payload
// (securecookie.NopEncoder): no gob or JSON wrapper around it.
//
// The record was JSON compressed with DEFLATE before. Its size comes from
// whole strings that repeat (field names, the same request, "200 OK"), so
// a table of strings does most of what DEFLATE did: each string is written
// once and referred to by number after that, and the strings every record
// holds are numbered in advance (recordWords). That needs no compressor: a
// DEFLATE writer keeps about 600 KB of tables (klauspost/compress's
// StatelessDeflate still takes a 256 KB token buffer from a pool), a reader
// 40 KB, and under load the app made more of them. Decoding allocates one
// string for the whole payload and cuts every value out of it.
//
// Layout, after the format byte: flags (1: viewed), the write time in Unix
// seconds, StepUp, the login steps, the events. A list is its length then
// its items; a step is its kind, its time (the difference from the
// previous step's, in milliseconds), its duration in microseconds, its
// note, then its fields as name, value pairs. Numbers are varints (signed
// ones zig-zag). A string is a uvarint x: odd, it is string x>>1 of the
// table (recordWords, then this record's strings in their order); even, x>>1
// bytes follow, and the string joins the table.
//
// (Nothing in the record is a secret, only masked values, so the repeated
// strings' lengths leak nothing the encryption should hide.)
type recordCodec struct {
	codecs []securecookie.Codec
	words  []string       // recordWords, by number
	number map[string]int // and the other way; read-only after newRecordCodec
}

// recordFormat is the payload's first byte; a change of layout or of
// recordWords takes the next value with the same low three bits (0x17,
// 0x1f, ...), so that an older cookie reads as no record instead of as
// nonsense. Those bits are 111 because a DEFLATE stream (the format before
// this one) never starts so: that is a reserved block type.
const recordFormat = 0x0f

// recordWords are the strings most records hold, most frequent first (the
// first 64 take one byte); each once (kindDecision and kindTokenRequest
// double as field names). Changing them changes the format: see
// recordFormat, and TestRecordWordsArePinned.
func recordWords() []string {
	return []string{
		// Events, on every droplet page view.
		kindAPI, kindPages, kindRefresh, kindRevoke, "request", "200 OK", "ratelimit-remaining",
		"GET /v2/droplets?page=1&per_page=200", "GET /v2/droplets?page=2&per_page=200", "GET /v2/droplets?page=3&per_page=200",
		"1 page fetched, 1 droplet", "1 page fetched, 3 droplets",
		"new access_token", "new refresh_token", "new expiry",
		"why: asked for", "why: expired", "why: about to expire", "why: refused by the API",
		// The login's steps.
		kindLink, kindDecision, kindCallback, kindTokenRequest, kindTokenResponse,
		"GET", "client_id", "redirect_uri", "response_type", "code", "scope", "read", "read write", "state",
		"code_challenge", "code_challenge_method", "S256", "redirected to DigitalOcean",
		"Authorize", "approved", "denied", "scope granted", "state check",
		"state matches the login cookie of this browser", "matches the login cookie of this browser",
		"grant_type", "authorization_code", "code_verifier", "client_secret", "•••• (43 characters)",
		"credentials sent in", "the POST body (application/x-www-form-urlencoded)",
		"access_token", "token_type", "bearer", "expires_in", "2592000", "refresh_token",
		"info.name", "info.email", "info.team_name", "access token expires", "saved in a new encrypted session cookie",
		"POST /v1/oauth/token", "POST /v1/oauth/token grant_type=refresh_token", "POST /v1/oauth/revoke",
		"sent in", "the POST body (token=…) and the Authorization: Bearer header",
		"https://cloud.digitalocean.com/v1/oauth/authorize", "http://localhost:5000/digitalocean",
		"POST /sandbox/v1/oauth/token", "POST /sandbox/v1/oauth/token grant_type=refresh_token", "POST /sandbox/v1/oauth/revoke",
		"http://localhost:5000/sandbox/v1/oauth/authorize", "sandbox-client", "My Team",
	}
}

// newRecordCodec returns a codec with the app's key pairs (signing,
// encryption; newest first) whose cookies expire after maxAge.
func newRecordCodec(keyPairs [][]byte, maxAge time.Duration) *recordCodec {
	rc := &recordCodec{codecs: securecookie.CodecsFromPairs(keyPairs...), words: recordWords(), number: map[string]int{}}
	for _, c := range rc.codecs {
		sc := c.(*securecookie.SecureCookie)
		sc.MaxAge(int(maxAge / time.Second))
		sc.SetSerializer(securecookie.NopEncoder{})
	}
	for i, w := range rc.words {
		rc.number[w] = i
	}
	return rc
}

// encode returns the cookie value of rec for the cookie called name.
func (rc *recordCodec) encode(name string, rec *flowRecord) (string, error) {
	return securecookie.EncodeMulti(name, rc.marshal(rec), rc.codecs...)
}

// decode returns the record in the cookie value.
func (rc *recordCodec) decode(name, value string) (*flowRecord, error) {
	var payload []byte
	if err := securecookie.DecodeMulti(name, value, &payload, rc.codecs...); err != nil {
		return nil, err
	}
	return rc.unmarshal(payload)
}

// recordWriter builds a payload.
type recordWriter struct {
	rc   *recordCodec
	buf  []byte
	seen map[string]int // this record's strings, numbered after rc.words
	prev int64          // the previous step's Milli
}

// marshal returns rec's payload.
func (rc *recordCodec) marshal(rec *flowRecord) []byte {
	w := &recordWriter{rc: rc, buf: make([]byte, 0, 1024), seen: make(map[string]int, 32)}
	w.buf = append(w.buf, recordFormat)
	var flags uint64
	if rec.Viewed {
		flags |= 1
	}
	w.buf = binary.AppendUvarint(w.buf, flags)
	var written int64
	if !rec.Written.IsZero() {
		written = rec.Written.Unix()
	}
	w.buf = binary.AppendVarint(w.buf, written)
	w.str(rec.StepUp)
	w.steps(rec.Steps)
	w.steps(rec.Events)
	return w.buf
}

func (w *recordWriter) steps(steps []flowStep) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(steps)))
	for _, st := range steps {
		w.str(st.Kind)
		w.buf = binary.AppendVarint(w.buf, st.Milli-w.prev)
		w.prev = st.Milli
		w.buf = binary.AppendVarint(w.buf, st.Micros)
		w.str(st.Note)
		w.buf = binary.AppendUvarint(w.buf, uint64(len(st.Fields)))
		for _, f := range st.Fields {
			w.str(f[0])
			w.str(f[1])
		}
	}
}

// str writes s as a number of the table, or as itself the first time.
func (w *recordWriter) str(s string) {
	if s == "" {
		w.buf = append(w.buf, 0)
		return
	}
	n, ok := w.rc.number[s]
	if !ok {
		n, ok = w.seen[s]
	}
	if ok {
		w.buf = binary.AppendUvarint(w.buf, uint64(n)<<1|1)
		return
	}
	w.seen[s] = len(w.rc.words) + len(w.seen)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(s))<<1)
	w.buf = append(w.buf, s...)
}

// errBadRecord: a payload this codec did not write.
var errBadRecord = errors.New("not a flow record of this format")

// recordReader reads a payload. Every count is checked against the bytes
// left at the smallest size of its items, so a forged payload cannot make
// it allocate more than a small multiple of its size (under 20 times: a
// 72-byte step from 5 bytes, a 32-byte field from 2). The cookie's MAC
// is checked before any of this runs, and the cookie is 4 KB at most.
type recordReader struct {
	rc     *recordCodec
	b      []byte   // the payload
	s      string   // the payload as a string; every value is a substring of it
	at     int      // the next byte
	seen   []string // this record's strings, numbered after rc.words
	fields [][2]string
	prev   int64
	err    error
}

// unmarshal reads a payload from marshal. Anything else (an older format,
// a truncated payload) is an error.
func (rc *recordCodec) unmarshal(payload []byte) (*flowRecord, error) {
	if len(payload) == 0 || payload[0] != recordFormat {
		return nil, errBadRecord
	}
	r := &recordReader{rc: rc, b: payload, s: string(payload), at: 1, seen: make([]string, 0, 32), fields: make([][2]string, 0, 64)}
	rec := &flowRecord{}
	rec.Viewed = r.uvarint()&1 != 0
	if sec := r.varint(); sec != 0 {
		rec.Written = time.Unix(sec, 0)
	}
	rec.StepUp = r.str()
	rec.Steps = r.steps()
	rec.Events = r.steps()
	if r.err != nil || r.at != len(r.s) {
		return nil, errBadRecord
	}
	return rec, nil
}

func (r *recordReader) steps() []flowStep {
	n := r.count(5) // kind, time, duration, note, field count
	if n == 0 {
		return nil
	}
	steps := make([]flowStep, n)
	for i := range steps {
		st := &steps[i]
		st.Kind = r.str()
		r.prev += r.varint()
		st.Milli = r.prev
		st.Micros = r.varint()
		st.Note = r.str()
		if nf := r.count(2); nf > 0 { // a name and a value
			from := len(r.fields)
			for range nf {
				r.fields = append(r.fields, [2]string{r.str(), r.str()})
			}
			// Capped, so that appending to one step's fields
			// cannot write over the next step's.
			st.Fields = r.fields[from:len(r.fields):len(r.fields)]
		}
		if r.err != nil {
			return nil
		}
	}
	return steps
}

func (r *recordReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.at:])
	if n <= 0 {
		r.err = errBadRecord
		return 0
	}
	r.at += n
	return v
}

func (r *recordReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.at:])
	if n <= 0 {
		r.err = errBadRecord
		return 0
	}
	r.at += n
	return v
}

// count reads a list's length, each of whose items takes at least size
// bytes: a longer list cannot fit in what is left of the payload.
func (r *recordReader) count(size int) int {
	n := r.uvarint()
	if r.err != nil || n > uint64((len(r.s)-r.at)/size) {
		r.err = errBadRecord
		return 0
	}
	return int(n)
}

func (r *recordReader) str() string {
	x := r.uvarint()
	if x&1 == 1 {
		switch i := x >> 1; {
		case i < uint64(len(r.rc.words)):
			return r.rc.words[i]
		case i-uint64(len(r.rc.words)) < uint64(len(r.seen)):
			return r.seen[i-uint64(len(r.rc.words))]
		}
		r.err = errBadRecord
		return ""
	}
	n := x >> 1
	if n > uint64(len(r.s)-r.at) {
		r.err = errBadRecord
		return ""
	}
	s := r.s[r.at : r.at+int(n)]
	r.at += int(n)
	if s != "" {
		r.seen = append(r.seen, s)
	}
	return s
}
