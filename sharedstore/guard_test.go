package sharedstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"dosignin/internal/redistest"
)

// Replies as Redis and Valkey send them, RESP2 and RESP3: the guard lets
// each through, whole, byte by byte, or back to back.
var wellFormed = []string{
	"+OK\r\n",
	"-ERR unknown command 'FOO', with args beginning with: \r\n",
	":1\r\n",
	"$-1\r\n",
	"*-1\r\n",
	"_\r\n",
	"#t\r\n",
	",3.14\r\n",
	"(3492890328409238509324850943850943825024385\r\n",
	"$0\r\n\r\n",
	"$5\r\nhel\nl\r\n", // a payload is skipped by its length, whatever it holds
	"$" + strconv.Itoa(maxValue) + "\r\n" + strings.Repeat("x", maxValue) + "\r\n",
	"=15\r\ntxt:Some string\r\n",
	"!21\r\nSYNTAX invalid syntax\r\n",
	"*0\r\n",
	"*2\r\n$3\r\nfoo\r\n*2\r\n:1\r\n$-1\r\n",
	">3\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n_\r\n",
	"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:42\r\n",
	"~2\r\n+a\r\n+b\r\n",
	// Valkey 8's HELLO, then Redis 8's, whose modules nest four deep.
	"%7\r\n+server\r\n+valkey\r\n+version\r\n+8.0.2\r\n+proto\r\n:3\r\n+id\r\n:7\r\n+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n",
	"%7\r\n+server\r\n+redis\r\n+version\r\n+8.0.0\r\n+proto\r\n:3\r\n+id\r\n:3\r\n+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n" +
		"*2\r\n%4\r\n+name\r\n+search\r\n+ver\r\n:80000\r\n+path\r\n+/usr/lib/redis/modules/redisearch.so\r\n+args\r\n*2\r\n+MAXSEARCHRESULTS\r\n+10000\r\n" +
		"%4\r\n+name\r\n+ReJSON\r\n+ver\r\n:80000\r\n+path\r\n+/usr/lib/redis/modules/rejson.so\r\n+args\r\n*0\r\n",
}

func TestGuardLetsWhatRedisSendsThrough(t *testing.T) {
	t.Parallel()
	for _, reply := range wellFormed {
		var s replyScanner
		if err := s.scan([]byte(reply)); err != nil {
			t.Errorf("%.60q refused: %v", reply, err)
		}
		var bytewise replyScanner
		for i := range len(reply) {
			if err := bytewise.scan([]byte{reply[i]}); err != nil {
				t.Errorf("%.60q refused at byte %d: %v", reply, i, err)
				break
			}
		}
		if s.state != atType || s.depth != 0 || s.used != 0 {
			t.Errorf("%.60q: the scanner did not see the reply end: %+v", reply, s)
		}
	}
	var s replyScanner
	if err := s.scan([]byte(strings.Join(wellFormed, ""))); err != nil {
		t.Errorf("the replies back to back: %v", err)
	}
}

// Each of these would make go-redis allocate what the header announces,
// recurse without end, or read a line without end; the guard refuses it
// at the header, before go-redis reads it.
var refused = []struct {
	name, reply, why string
}{
	{"a 300 GB string", "$300000000000\r\n", "a string of 300000000000 bytes"},
	{"a string just over the bound", "$" + strconv.Itoa(maxReply-5) + "\r\n", "a string of"},
	{"a string near MaxInt", "$9223372036854775807\r\n", "a string of"},
	{"a blob error of 300 GB", "!300000000000\r\n", "a string of"},
	{"a verbatim string of 300 GB", "=300000000000\r\n", "a string of"},
	{"a huge string inside an array", "*2\r\n:1\r\n$300000000000\r\n", "a string of"},
	{"an array of 2^31 elements", "*2147483647\r\n", "an aggregate of 2147483647 elements"},
	{"a map of a million pairs", "%1000000\r\n", "an aggregate of 1000000"},
	{"a set just over the bound", "~1025\r\n", "an aggregate of 1025"},
	{"an attribute of a billion pairs", "|1000000000\r\n", "an aggregate of"},
	{"arrays nested without end", strings.Repeat("*1\r\n", 1000), "nested more than 8 deep"},
	{"a line without end", "+" + strings.Repeat("a", 100_000), "a reply longer than 65536 bytes"},
	{"many small values past the bound", "*1000\r\n" + strings.Repeat("+"+strings.Repeat("a", 100)+"\r\n", 1000), "a reply longer than"},
	{"an unknown type", "hello\r\n", `unknown type 'h'`},
	{"a length that is no number", "$abc\r\n", "not a length"},
	{"a streamed string", "$?\r\n", "not a length"},
	{"a negative length", "*-5\r\n", "not a length"},
	{"a header that never ends", "$" + strings.Repeat("9", 50), "not a length"},
	{"a header without CR", "$5\nhello\r\n", "without CRLF"},
}

func TestGuardRefusesWhatWouldHurtTheProcess(t *testing.T) {
	t.Parallel()
	for _, tt := range refused {
		var s replyScanner
		err := s.scan([]byte(tt.reply))
		if err == nil || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: err %v, want it to say %q", tt.name, err, tt.why)
		}
	}
	// A small reply does not spend the next one's budget.
	var s replyScanner
	for range 100 {
		if err := s.scan([]byte("$40000\r\n" + strings.Repeat("x", 40000) + "\r\n")); err != nil {
			t.Fatalf("a stream of 40 KB replies: %v", err)
		}
	}
}

// Against a Redis that answers with such replies, through go-redis
// and the guarded connection: every call fails with the guard's refusal
// (so go-redis never allocated what was announced), the store counts as
// down and logs it once, and calls then fail at once until it retries.
func TestStoreSurvivesAHostileRedis(t *testing.T) {
	t.Parallel()
	scenarios := map[string]func(io.Writer){
		"endless nesting": func(w io.Writer) {
			chunk := bytes.Repeat([]byte("*1\r\n"), 1024)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
		"endless line": func(w io.Writer) {
			io.WriteString(w, "+")
			chunk := bytes.Repeat([]byte("a"), 4096)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		},
	}
	for _, reply := range []string{"$300000000000\r\n", "$9223372036854775807\r\n", "*2147483647\r\n", "%1000000\r\n", "hello\r\n", "$abc\r\n"} {
		scenarios[reply] = func(w io.Writer) { io.WriteString(w, reply) }
	}
	for name, reply := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := &syncLog{}
			s := openFake(t, reply, log)
			now := time.Now()
			s.now = func() time.Time { return now }

			_, err := s.Get(context.Background(), "refresh token:abc")
			if !errors.Is(err, errRefused) {
				t.Fatalf("Get: %v, want the guard's refusal", err)
			}
			if err := s.Set(context.Background(), "x", []byte("y"), time.Minute); !errors.Is(err, ErrDown) {
				t.Errorf("Set right after: %v, want ErrDown", err)
			}
			now = now.Add(2 * retryDown)
			if got := s.Check(context.Background()); got != "down" {
				t.Errorf("Check = %q, want down", got)
			}
			if n := strings.Count(log.String(), "shared store unreachable"); n != 1 || !strings.Contains(log.String(), "refused a reply from Redis") {
				t.Errorf("logged %d times, want once with the reason:\n%s", n, log)
			}
		})
	}
}

// A reply the guard lets through reaches the store as usual: here a value
// not sealed with this secret, which reads as none.
func TestStoreReadsWellFormedRepliesThroughTheGuard(t *testing.T) {
	t.Parallel()
	s := openFake(t, func(w io.Writer) { io.WriteString(w, "$5\r\nhello\r\n") }, nil)
	for range 3 {
		if got, err := s.Get(context.Background(), "name"); err != nil || got != nil {
			t.Errorf("Get = %q, %v; want nothing, no error", got, err)
		}
	}
}

// Set never stores what Get would refuse to read back, and that is no
// outage.
func TestSetRefusesAValueTheGuardWouldRefuse(t *testing.T) {
	t.Parallel()
	s := openFake(t, func(w io.Writer) { io.WriteString(w, "+OK\r\n") }, nil)
	ctx := context.Background()
	if err := s.Set(ctx, "big", make([]byte, maxValue), time.Minute); err == nil || errors.Is(err, ErrDown) {
		t.Errorf("Set of %d bytes: %v", maxValue, err)
	}
	if err := s.Set(ctx, "small", make([]byte, 4<<10), time.Minute); err != nil {
		t.Errorf("Set of 4 KB after: %v", err)
	}
}

// openFake opens a Store against a Fake that answers with reply.
func openFake(t *testing.T, reply func(io.Writer), log io.Writer) *Store {
	t.Helper()
	return openStore(t, redistest.StartFake(t, reply).URL, log)
}

func openStore(t *testing.T, url string, log io.Writer) *Store {
	t.Helper()
	opts := Options{URL: url, Secret: []byte("0123456789abcdef0123456789abcdef-guard-test")}
	if log != nil {
		opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The largest value Set accepts comes back from a real Redis through the
// guard.
func TestLargestValueRoundTripsThroughRealRedis(t *testing.T) {
	t.Parallel()
	s := openStore(t, redistest.Start(t).URL, nil)
	ctx := context.Background()
	value := bytes.Repeat([]byte("v"), maxValue-s.aead.NonceSize()-s.aead.Overhead())
	if err := s.Set(ctx, "largest", value, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "largest"); err != nil || !bytes.Equal(got, value) {
		t.Fatalf("Get: %d bytes, %v", len(got), err)
	}
	if err := s.Set(ctx, "larger", append(value, 'v'), time.Minute); err == nil {
		t.Error("a byte more was stored")
	}
}

// The guard sits on top of go-redis's own dialer, so rediss:// still
// speaks TLS: the first byte the server gets opens a TLS handshake.
func TestGuardKeepsTLS(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	first := make(chan byte, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		b := make([]byte, 1)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(conn, b); err == nil {
			first <- b[0]
		}
		close(first)
	}()
	s := openStore(t, "rediss://"+ln.Addr().String(), nil)
	if _, err := s.Get(context.Background(), "name"); err == nil {
		t.Error("Get succeeded against a server that speaks no TLS")
	}
	if b := <-first; b != 0x16 { // a TLS handshake record
		t.Errorf("the first byte sent was %#x, not a TLS handshake", b)
	}
}
