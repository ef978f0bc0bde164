// Package redistest starts a real redis-server (Debian's package) for a
// test, on a free port with a temporary directory, and kills it when the
// test ends. Without redis-server the test is skipped with the reason, or
// fails when REQUIRE_REDIS=1 (as in CI). [StartFake] starts the one
// exception, a hostile stand-in for Redis, for tests of what a client
// survives.
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string // host:port
	URL  string // redis://host:port

	t   *testing.T
	cmd *exec.Cmd
	dir string
}

// Start starts redis-server, or skips t when it is not installed.
func Start(t *testing.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server is not installed and REQUIRE_REDIS=1 (apt-get install redis-server)")
		}
		t.Skip("redis-server is not installed (apt-get install redis-server); set REQUIRE_REDIS=1 to make this a failure")
	}
	s := &Server{t: t, dir: t.TempDir()}
	s.Addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	s.URL = "redis://" + s.Addr
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.ping() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	s.t.Fatalf("redis-server on %s did not answer PING", s.Addr)
}

// Stop kills the server (a crash, as far as the app can tell). Calling it
// again does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	bin, _ := exec.LookPath("redis-server")
	s.start(bin)
}

// Dump returns every key and value in the database, for tests that check
// what a dump would reveal. Values of other types than string are listed
// by key only.
func (s *Server) Dump() map[string]string {
	s.t.Helper()
	keys := s.Do("KEYS", "*")
	out := map[string]string{}
	for _, k := range strings.Split(keys, "\n") {
		if k == "" {
			continue
		}
		out[k] = s.Do("GET", k)
	}
	return out
}

// Do sends one command and returns the reply as text: bulk strings as is,
// arrays one element a line.
func (s *Server) Do(args ...string) string {
	s.t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
	if err != nil {
		s.t.Fatalf("redis %v: %v", args, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(conn, "$%d\r\n%s\r\n", len(a), a)
	}
	r := bufio.NewReader(conn)
	reply, err := readReply(r)
	if err != nil {
		s.t.Fatalf("redis %v: %v", args, err)
	}
	return reply
}

func (s *Server) ping() error {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("no PONG: %q %v", line, err)
	}
	return nil
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis error: %s", line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		var parts []string
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
