package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Fake stands in for Redis as a hostile peer would: whoever is on a
// plaintext path, or a compromised server. It answers the handshake that
// go-redis sends on each new connection as Valkey 8 does (HELLO 3, and an
// error to CLIENT subcommands it does not know), so the client gets as far
// as its commands, and answers every other command with what reply writes.
// Only tests of what the client survives use it; everything else runs
// against a real redis-server ([Start]).
type Fake struct {
	Addr string // host:port
	URL  string // redis://host:port

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// StartFake starts a Fake on 127.0.0.1 and stops it when the test ends.
// reply may write forever (an endless array, say): writing stops when the
// client closes the connection.
func StartFake(t *testing.T, reply func(w io.Writer)) *Fake {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Fake{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	f.URL = "redis://" + f.Addr
	f.wg.Add(1)
	go f.accept(reply)
	t.Cleanup(f.stop)
	return f
}

func (f *Fake) accept(reply func(io.Writer)) {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[conn] = true
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer conn.Close()
			f.serve(conn, reply)
		}()
	}
}

func (f *Fake) serve(conn net.Conn, reply func(io.Writer)) {
	r := bufio.NewReader(conn)
	for {
		cmd, err := readCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(cmd[0]) {
		case "HELLO":
			io.WriteString(conn, "%7\r\n+server\r\n+valkey\r\n+version\r\n+8.0.2\r\n+proto\r\n:3\r\n"+
				"+id\r\n:7\r\n+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n")
		case "CLIENT":
			fmt.Fprintf(conn, "-ERR unknown subcommand '%s'. Try CLIENT HELP.\r\n", strings.Join(cmd[1:2], ""))
		default:
			reply(conn)
		}
	}
}

func (f *Fake) stop() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// readCommand reads one command as clients send it: an array of bulk
// strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	n, err := readLength(r, '*')
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("an empty command")
	}
	cmd := make([]string, n)
	for i := range cmd {
		size, err := readLength(r, '$')
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		cmd[i] = string(b[:size])
	}
	return cmd, nil
}

// readLength reads a "*3\r\n" or "$5\r\n" header, bounded: the client is
// the one under test, but a fake should not trust it either.
func readLength(r *bufio.Reader, kind byte) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(line, string(kind)), "\r\n"))
	if err != nil || !strings.HasPrefix(line, string(kind)) || n < 0 || n > 1<<20 {
		return 0, fmt.Errorf("bad %c header %q", kind, line)
	}
	return n, nil
}
