package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dosignin/internal/redistest"
	"dosignin/sharedstore"
)

// Security test 32: a hostile Redis (or whoever answers on a plaintext
// path) cannot kill the app. Each reply below, sent to every command after
// the handshake, would make go-redis allocate 300 GB or 32 GB, or recurse
// until the stack limit: fatal errors no recover catches, so the app runs
// in a process of its own and the test watches it from outside. It keeps
// serving the index, /healthz says the store is down, a sign-in through
// the sandbox completes, the outage is logged once with its reason, and
// the process is still alive at the end. (The configuration half, rediss://
// off this machine, is in config_test.go.)
func TestSecurity32HostileRedisCannotKillTheApp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the app in processes of its own")
	}
	// Not parallel with the other tests: four more processes starting at
	// once would slow the timed steps of the multi-instance tests.
	for _, tt := range []struct {
		name  string
		reply func(w io.Writer)
	}{
		{"a string of 300 GB", func(w io.Writer) { io.WriteString(w, "$300000000000\r\n") }},
		{"an array of 2^31 elements", func(w io.Writer) { io.WriteString(w, "*2147483647\r\n") }},
		{"arrays nested without end", func(w io.Writer) {
			chunk := bytes.Repeat([]byte("*1\r\n"), 4096)
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
		{"garbage", func(w io.Writer) { io.WriteString(w, "HTTP/1.1 400 Bad Request\r\n\r\n") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := redistest.StartFake(t, tt.reply)
			app := startAppProcess(t, map[string]string{
				"SESSION_SECRET": "hostile-redis-session-secret-0123456789-0123456789",
				"REDIS_URL":      fake.URL,
			})

			index := get(t, http.DefaultClient, app.base+"/")
			if !strings.Contains(index.body, "Connect") {
				t.Errorf("no index page:\n%.300s", index.body)
			}

			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
			consent := get(t, browser, app.base+"/connect")
			form := hiddenFields(consent.body)
			form.Set("decision", "approve")
			resp, err := browser.PostForm(consent.url.ResolveReference(&url.URL{Path: "authorize"}).String(), form)
			if err != nil {
				t.Fatalf("sign-in: %v (the app: %s)", err, app.state())
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Request.URL.Path != "/digitalocean" || !strings.Contains(string(body), "8 droplets") {
				t.Errorf("after Authorize: %s %d\n%.300s", resp.Request.URL, resp.StatusCode, body)
			}

			health := get(t, http.DefaultClient, app.base+"/healthz")
			if !strings.Contains(health.body, `"shared_store":"down"`) {
				t.Errorf("/healthz: %s", health.body)
			}
			if s := app.state(); s != "running" {
				t.Fatalf("the app is %s", s)
			}
			logs := app.logs.String()
			if n := strings.Count(logs, "shared store unreachable"); n != 1 || !strings.Contains(logs, "refused a reply from Redis") {
				t.Errorf("the outage was logged %d times, want once with the guard's reason", n)
			}
		})
	}
}

// appProcess is the app running in a process of its own (see
// TestAppProcess).
type appProcess struct {
	base   string
	logs   *syncBuffer
	exited chan struct{}
	cmd    *exec.Cmd
}

// state is "running", or how the process ended: its exit status and the
// runtime's fatal error, or the end of its output.
func (a *appProcess) state() string {
	select {
	case <-a.exited:
	default:
		return "running"
	}
	out := a.logs.String()
	if i := strings.Index(out, "fatal error:"); i >= 0 {
		out, _, _ = strings.Cut(out[i:], "\n")
	} else {
		out = "…" + out[max(0, len(out)-1000):]
	}
	return fmt.Sprintf("dead (%v): %s", a.cmd.ProcessState, out)
}

// startAppProcess runs the app as a process of its own (this test binary,
// running TestAppProcess) with env as its whole environment on a free
// port, in sandbox mode unless env says otherwise, and kills it when the
// test ends.
func startAppProcess(t *testing.T, env map[string]string) *appProcess {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestAppProcess$")
	cmd.Env = []string{"DOSIGNIN_APP_PROCESS=1", "PORT=" + strconv.Itoa(port)}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	a := &appProcess{base: "http://localhost:" + strconv.Itoa(port), logs: &syncBuffer{}, exited: make(chan struct{}), cmd: cmd}
	cmd.Stdout, cmd.Stderr = a.logs, a.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-a.exited
		if t.Failed() {
			log, _, _ := strings.Cut(a.logs.String(), "\ngoroutine ") // not the dump of every goroutine after a fatal error
			t.Logf("app log:\n%s", log)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if resp, err := http.Get(a.base + "/healthz"); err == nil {
			resp.Body.Close()
			return a
		}
		if s := a.state(); s != "running" || time.Now().After(deadline) {
			t.Fatalf("the app is not serving: %s", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAppProcess is not a test of its own: it is the app, for
// startAppProcess, which runs this binary with DOSIGNIN_APP_PROCESS=1.
// Elsewhere it skips.
func TestAppProcess(t *testing.T) {
	if os.Getenv("DOSIGNIN_APP_PROCESS") != "1" {
		t.Skip("the app's own process, for startAppProcess")
	}
	sharedstore.QuietClientLog()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
