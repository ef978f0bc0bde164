package sharedstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// What the store ever reads back is small: a sealed result of a few
// kilobytes, a lock's token, an integer, the handshake. go-redis, though,
// believes the lengths Redis announces, and its reader has no limit of its
// own: a reply that starts "$300000000000" makes it allocate 300 GB, and
// the runtime's "out of memory" is fatal, not a panic anyone can recover;
// "*2147483647" asks for 32 GB; nested "*1" headers make it recurse as
// deep as they go. So the store's connections are guarded beneath
// go-redis, through the one hook it offers below its reader (the Dialer
// in redis.Options): every byte Redis sends passes through a scanner that
// follows RESP's framing (where each value starts, how long each string
// is, how many elements each aggregate has) without decoding anything,
// and refuses a reply that goes past these bounds before go-redis reads
// the header that announces it.
const (
	// maxReply bounds one whole reply, headers included.
	maxReply = 64 << 10
	// maxValue bounds what Set writes, so every value fits in a reply the
	// guard lets through, with room for its header.
	maxValue = maxReply - 1<<10
	// maxElements bounds one array, set, push, map or attribute, which
	// go-redis allocates in full when it reads the header.
	maxElements = 1024
	// maxDepth bounds nesting, which go-redis reads by recursion. The
	// deepest reply the store sees is Redis 8's HELLO (map, modules
	// array, module map, args array).
	maxDepth = 8
)

// errRefused is returned, wrapped with the reason, by a guarded connection
// that refused a reply; the connection is closed and stays refused.
var errRefused = errors.New("refused a reply from Redis")

// guardDialer wraps dial (go-redis's own, which also does TLS for
// rediss://, so the guard reads what TLS decrypted).
func guardDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		g := &guardedConn{Conn: conn}
		if sc, ok := conn.(syscall.Conn); ok {
			// go-redis peeks at an idle TCP connection's socket (MSG_PEEK,
			// which consumes nothing) to find those Redis closed; keep
			// that check working through the guard.
			return guardedSyscallConn{g, sc}, nil
		}
		return g, nil
	}
}

// guardedConn is a connection whose reads go through a replyScanner.
type guardedConn struct {
	net.Conn
	scan replyScanner
	err  error // once set, every read returns it
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if serr := c.scan.scan(p[:n]); serr != nil {
		// Nothing of this read reaches go-redis, so it never sees the
		// header; the closed connection makes it drop this one.
		c.err = fmt.Errorf("%w: %v; connection closed", errRefused, serr)
		c.Conn.Close()
		return 0, c.err
	}
	return n, err
}

type guardedSyscallConn struct {
	*guardedConn
	sc syscall.Conn
}

func (c guardedSyscallConn) SyscallConn() (syscall.RawConn, error) { return c.sc.SyscallConn() }

// replyScanner follows RESP2 and RESP3 framing across reads. It keeps only
// counters: the header being read, the payload bytes left to skip, and the
// elements left in each open aggregate.
type replyScanner struct {
	state   scanState
	kind    byte     // the type byte of the header being read
	header  [24]byte // the header's digits (an int64 and "\r" fit)
	headerN int
	skip    int           // payload bytes left, trailing CRLF included
	open    [maxDepth]int // elements left in each open aggregate, innermost last
	depth   int
	used    int // bytes of the current reply so far
}

type scanState uint8

const (
	atType   scanState = iota // the next byte starts a value
	inLine                    // a simple value: up to '\n'
	inHeader                  // a length or count: up to '\n'
	inBulk                    // a string's payload: skip bytes
)

func (s *replyScanner) scan(b []byte) error {
	for len(b) > 0 {
		if s.state == inBulk {
			n := min(s.skip, len(b))
			s.skip -= n
			s.used += n // already within maxReply: checked at the header
			b = b[n:]
			if s.skip == 0 {
				s.state = atType
				s.valueDone()
			}
			continue
		}
		c := b[0]
		b = b[1:]
		if s.used++; s.used > maxReply {
			return fmt.Errorf("a reply longer than %d bytes", maxReply)
		}
		switch s.state {
		case atType:
			s.kind = c
			switch c {
			case '+', '-', ':', '_', ',', '#', '(':
				s.state = inLine
			case '$', '=', '!', '*', '~', '>', '%', '|':
				s.state, s.headerN = inHeader, 0
			default:
				return fmt.Errorf("a value of unknown type %q", c)
			}
		case inLine:
			if c == '\n' {
				s.state = atType
				s.valueDone()
			}
		case inHeader:
			if c != '\n' {
				if s.headerN == len(s.header) {
					return fmt.Errorf("a %q header that is not a length", s.kind)
				}
				s.header[s.headerN] = c
				s.headerN++
				continue
			}
			if err := s.endHeader(); err != nil {
				return err
			}
		}
	}
	return nil
}

// endHeader reads a length or count the way go-redis will (strconv.Atoi),
// and refuses it when go-redis would allocate more than the bounds allow.
func (s *replyScanner) endHeader() error {
	digits := s.header[:s.headerN]
	if len(digits) == 0 || digits[len(digits)-1] != '\r' {
		return fmt.Errorf("a %q header without CRLF", s.kind)
	}
	n, err := strconv.Atoi(string(digits[:len(digits)-1]))
	if err != nil || n < -1 {
		return fmt.Errorf("a %q header that is not a length", s.kind)
	}
	s.state = atType
	if n == -1 { // a nil
		s.valueDone()
		return nil
	}
	switch s.kind {
	case '$', '=', '!':
		if n > maxReply-s.used-2 {
			return fmt.Errorf("a string of %d bytes, in a reply of at most %d", n, maxReply)
		}
		s.state, s.skip = inBulk, n+2
		return nil
	}
	if n > maxElements {
		return fmt.Errorf("an aggregate of %d elements, of at most %d", n, maxElements)
	}
	switch s.kind {
	case '%':
		n *= 2 // keys and values
	case '|':
		n = 2*n + 1 // an attribute's pairs, then the value it is about
	}
	if n == 0 {
		s.valueDone()
		return nil
	}
	if s.depth == maxDepth {
		return fmt.Errorf("aggregates nested more than %d deep", maxDepth)
	}
	s.open[s.depth] = n
	s.depth++
	return nil
}

// valueDone counts a complete value in the aggregates it closes; when
// none is left open, a whole reply has been read and the next starts.
func (s *replyScanner) valueDone() {
	for s.depth > 0 {
		s.open[s.depth-1]--
		if s.open[s.depth-1] > 0 {
			return
		}
		s.depth--
	}
	s.used = 0
}
