// Command dosignin is the reference Go app for "Sign in with DigitalOcean":
// it walks the OAuth 2 authorization-code flow against DigitalOcean (or,
// with no credentials, against an embedded sandbox), keeps the tokens in an
// encrypted cookie, refreshes them, and lists the user's droplets.
//
//	go run .                 # serve on http://localhost:5000
//	go run . sandbox         # serve only the sandbox, a local DigitalOcean, on http://localhost:5050
//	go run . device          # play a device signing in to the sandbox with the device grant (RFC 8628)
//	go run . healthcheck     # exit 0 when the local /healthz answers 200
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/joho/godotenv"

	"dosignin/devicecli"
	"dosignin/doclient"
	"dosignin/handlers"
	"dosignin/handlers/learn"
	"dosignin/sandbox"
	"dosignin/sharedstore"
)

// assets are the pages and static files, compiled into the binary so it
// runs from any directory and in a scratch image.
//
//go:embed views static
var assets embed.FS

func main() {
	start := run
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "healthcheck":
			os.Exit(healthcheck(os.Getenv))
		case "sandbox":
			start = runSandbox
		case "device":
			os.Exit(device(os.Args[2:]))
		default:
			fmt.Fprintf(os.Stderr, "unknown command %q; usage: dosignin [sandbox | device | healthcheck]\n", os.Args[1])
			os.Exit(2)
		}
	}
	// .env is optional; variables already in the environment win over it.
	if err := godotenv.Load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "reading .env:", err)
		os.Exit(1)
	}
	sharedstore.QuietClientLog() // the app logs a Redis outage once, not each failed dial
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := start(ctx, os.Getenv, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run starts the app and serves until ctx is cancelled, then shuts down
// gracefully. Tests call it directly with their own environment; ready, when
// not nil, is told the address the server listens on.
func run(ctx context.Context, getenv func(string) string, logOut io.Writer, ready func(addr net.Addr)) error {
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration problems:\n%w", err)
	}
	log := newLogger(cfg, logOut)

	var shared *sharedstore.Store
	if cfg.RedisURL != nil {
		shared, err = sharedstore.Open(sharedstore.Options{
			URL:    cfg.RedisURL.String(),
			Secret: cfg.SessionSecrets[0], // every instance shares it, so it derives the store's keys too
			Logger: log.With("component", "sharedstore"),
		})
		if err != nil {
			return err
		}
		defer shared.Close()
	}
	app, err := newApp(cfg, log, shared)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		return err
	}
	log.Info("starting", "config", cfg)
	if cfg.SessionSecretGenerated {
		log.Warn("SESSION_SECRET is not set: using a random one, so everyone is signed out when the app restarts")
	}
	if cfg.SessionSecretGenerated && cfg.RedisURL != nil {
		log.Warn("REDIS_URL is set but SESSION_SECRET is not: the shared store's keys come from the secret, so instances with random secrets cannot use each other's results")
	}
	if cfg.Sandbox {
		log.Warn("SANDBOX MODE: no DigitalOcean credentials are set, so the app talks to its built-in emulation of DigitalOcean; no real account is touched")
	}
	home := cfg.RedirectURL.Scheme + "://" + cfg.RedirectURL.Host + "/"
	log.Info("listening on "+ln.Addr().String()+": open "+home+" in your browser", "addr", ln.Addr().String(), "url", home)
	if ready != nil {
		ready(ln.Addr())
	}
	return serve(ctx, log, ln, app)
}

// runSandbox is `dosignin sandbox`: the sandbox alone, at the root of its
// own port (SANDBOX_PORT), as a local DigitalOcean for other apps, CLIs and
// API libraries. It knows no client until one registers (RFC 7591), and
// its personal access token works at once.
func runSandbox(ctx context.Context, getenv func(string) string, logOut io.Writer, ready func(addr net.Addr)) error {
	cfg, err := LoadSandboxConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration problems:\n%w", err)
	}
	log := newLogger(cfg, logOut)
	sb, err := sandbox.New(sandboxConfig(cfg, log))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.SandboxPort))
	if err != nil {
		return err
	}
	root := "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	log.Info("DigitalOcean sandbox listening on "+ln.Addr().String()+": API base URL "+root+", OAuth base URL "+root+"/v1/oauth, Developer page "+root+"/developer",
		"addr", ln.Addr().String(), "api_url", root, "oauth_url", root+"/v1/oauth", "metadata", root+"/.well-known/oauth-authorization-server")
	logSandboxToken(log, sb, root)
	if ready != nil {
		ready(ln.Addr())
	}
	return serve(ctx, log, ln, sb)
}

// logSandboxToken prints the sandbox's personal access token. Unlike every
// other token it is meant to be seen: it opens only the sandbox's made-up
// account, and copying it from the log is how a developer tries an API
// client without any OAuth.
func logSandboxToken(log *slog.Logger, sb *sandbox.Server, apiURL string) {
	log.Info("sandbox personal access token (read & write, until restart; not a secret): "+sb.PersonalAccessToken(),
		"try", `curl -H "Authorization: Bearer `+sb.PersonalAccessToken()+`" `+apiURL+"/v2/droplets")
}

// serve serves handler on ln until ctx is cancelled, then shuts down
// gracefully.
func serve(ctx context.Context, log *slog.Logger, ln net.Listener, handler http.Handler) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second, // a 10,000-droplet listing takes a while upstream
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// SIGTERM (App Platform sends it on every deploy): stop accepting, let
	// requests in flight finish.
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// newApp wires the packages together: the sandbox (in sandbox mode),
// doclient, the shared store when there is one, and the handlers.
func newApp(cfg Config, log *slog.Logger, shared *sharedstore.Store) (http.Handler, error) {
	var coordinate doclient.SharedStore
	var storeState func(context.Context) string
	if shared != nil {
		coordinate, storeState = shared, shared.Check
	}
	client, err := doclient.New(doclient.Config{
		Shared:       coordinate,
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		RedirectURL:  cfg.RedirectURL.String(),
		Scopes:       cfg.Scopes,
		OAuthURL:     cfg.OAuthURL,
		APIURL:       cfg.APIURL,
	})
	if err != nil {
		return nil, err
	}
	// The learn pages act on the sandbox only, with clients of their own
	// (learnClients); with DigitalOcean they get nothing to act with.
	var learnCfg *learn.Config
	if cfg.Sandbox {
		learnCfg = &learn.Config{
			OAuthURL:    cfg.OAuthURL,
			APIURL:      cfg.APIURL,
			RedirectURL: cfg.RedirectURL.Scheme + "://" + cfg.RedirectURL.Host + learn.CallbackPath,
		}
	}
	views, _ := fs.Sub(assets, "views")   // cannot fail: the directory is embedded
	static, _ := fs.Sub(assets, "static") // likewise
	web, err := handlers.New(handlers.Options{
		Client:         client,
		RedirectURL:    cfg.RedirectURL,
		Scopes:         cfg.Scopes,
		PKCE:           cfg.PKCE,
		SessionSecrets: cfg.SessionSecrets,
		IdleTimeout:    cfg.SessionIdleTimeout,
		MaxAge:         cfg.SessionMaxAge,
		Views:          views,
		Static:         static,
		Sandbox:        cfg.Sandbox,
		StoreState:     storeState,
		Learn:          learnCfg,
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}
	if !cfg.Sandbox {
		return web.Handler(), nil
	}

	// The sandbox is a separate server that happens to share the port: it
	// gets its own path and none of the app's middleware, as DigitalOcean
	// would.
	sbCfg := sandboxConfig(cfg, log)
	sbCfg.ClientID, sbCfg.ClientSecret = cfg.ClientID, cfg.ClientSecret
	sbCfg.RedirectURIs = []string{cfg.RedirectURL.String()}
	sbCfg.AppName = "Sign in with DigitalOcean (Go)"
	sbCfg.Clients = learnClients(learnCfg.RedirectURL)
	sb, err := sandbox.New(sbCfg)
	if err != nil {
		return nil, err
	}
	logSandboxToken(log, sb, cfg.APIURL)
	mux := http.NewServeMux()
	mux.Handle(sandboxPrefix+"/", http.StripPrefix(sandboxPrefix, sb))
	mux.Handle("/", web.Handler())
	return mux, nil
}

// sandboxConfig is the sandbox's configuration from the SANDBOX_*
// variables, without the app's client.
func sandboxConfig(cfg Config, log *slog.Logger) sandbox.Config {
	return sandbox.Config{
		TokenTTL:   cfg.SandboxTokenTTL,
		Droplets:   sandboxDroplets(cfg.SandboxDroplets),
		RateLimit:  cfg.SandboxRateLimit,
		BurstLimit: cfg.SandboxBurstLimit,
		// Behind a proxy every visitor has the proxy's address: the
		// sandbox's limits on sign-ins would then count them all as one.
		TrustedProxies: cfg.SandboxTrustedProxies,
		ActionDelay:    cfg.SandboxActionDelay,
		Logger:         log.With("component", "sandbox"),
	}
}

// learnClients are the learn pages' clients (package learn), which the
// embedded sandbox knows beside the app's own, so that a learner's flow
// never involves the app's client and its secret.
func learnClients(redirectURL string) []sandbox.ClientConfig {
	return []sandbox.ClientConfig{
		{ID: learn.ClientID, Secret: learn.ClientSecret, Name: learn.ClientName, RedirectURIs: []string{redirectURL}},
		{ID: learn.QuickClientID, Secret: learn.ClientSecret, Name: learn.QuickClientName, RedirectURIs: []string{redirectURL}, CodeTTL: learn.QuickCodeTTL},
		{ID: learn.PublicClientID, Name: learn.PublicClientName},
	}
}

// sandboxDroplets translates SANDBOX_DROPLETS to the sandbox's convention,
// where 0 means its default and a negative number means none.
func sandboxDroplets(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// newLogger returns a text logger, or a JSON one for LOG_FORMAT=json (App
// Platform's log tooling parses JSON).
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// device is `dosignin device` (package devicecli): it signs a pretend
// device in to the sandbox, whose address it takes from -url or
// SANDBOX_URL, until it is done or interrupted.
func device(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devicecli.Run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

// healthcheck is `dosignin healthcheck`: a probe for images with no shell
// or curl (Docker's HEALTHCHECK). It exits 0 when /healthz answers 200.
func healthcheck(getenv func(string) string) int {
	port := getenv("PORT")
	if port == "" {
		port = "5000"
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}
