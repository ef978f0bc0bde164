// Package sharedstore is the optional shared store (Valkey or Redis, set by
// REDIS_URL) through which several instances of the app make each
// single-use credential (a refresh token, an authorization code) reach
// DigitalOcean once. It offers what doclient's SharedStore interface asks
// for, short-lived values and locks, and knows nothing else of the app:
// package main wires it in.
//
// What it stores cannot be read back without SESSION_SECRET: every key is
// an HMAC of the name doclient gives it, and every value is sealed with
// AES-256-GCM, both keyed by HKDF from the secret with labels of their own
// (the cookie keys use other labels). A dump of the database shows no
// token, code or verifier.
//
// It is never a single point of failure: every call has a short timeout,
// and once Redis is unreachable (a refused or broken connection, or a few
// calls in a row that failed) the store reports itself down (logged once,
// not once per request) and answers at once with [ErrDown] for a second
// before it tries again; doclient then coordinates in-process, as it does
// without a shared store. One slow call, or a caller that hung up, does
// not count as an outage.
//
// Nor does it trust Redis with the process: each connection checks what
// Redis sends before go-redis reads it, and refuses a reply larger or
// deeper than anything the store asks for (see guard.go), which counts as
// an outage like a broken connection.
//
// The lock is bsm/redislock's design in a few lines: SET NX with a lease
// and a random token, and a Lua script that releases the lock only when it
// still holds that token.
package sharedstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults.
const (
	// DefaultTimeout bounds each call to Redis: a healthy one answers in a
	// millisecond, and a page must not wait long for a slow one.
	DefaultTimeout = 250 * time.Millisecond
	// retryDown is how long the store stays down after a failure before a
	// call may try Redis again: meanwhile calls fail at once, so a dead
	// Redis costs pages nothing.
	retryDown = time.Second
	// downAfter is how many calls in a row must fail (time out, or get an
	// error reply) before the store counts as down; a refused or broken
	// connection counts at once.
	downAfter = 3
	keyPrefix = "dosignin:"
)

// ErrDown is returned, at once, while the store is down.
var ErrDown = errors.New("sharedstore: the shared store is down")

// Options configure [Open].
type Options struct {
	// URL is REDIS_URL: redis://[user:password@]host:port[/db], or rediss://
	// for TLS (DigitalOcean's managed Valkey requires it).
	URL string
	// Secret is the newest SESSION_SECRET; the keys that hash names and
	// seal values are derived from it, so every instance must share it.
	Secret []byte
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger gets one line when the store goes down and one when it is
	// back; nil discards.
	Logger *slog.Logger
}

// Store is a connection pool to Redis plus the keys to hash and seal with.
// It is safe for concurrent use.
type Store struct {
	rdb     *redis.Client
	aead    cipher.AEAD
	nameKey []byte
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu       sync.Mutex
	down     bool
	retryAt  time.Time
	failures int // calls in a row that failed while up
}

// Open checks opts and returns a Store. It does not wait for Redis: an app
// starts, and serves, while Redis is still starting or unreachable.
func Open(opts Options) (*Store, error) {
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, errors.New("sharedstore: REDIS_URL must look like redis://host:6379 or rediss://user:password@host:25061")
	}
	if len(opts.Secret) == 0 {
		return nil, errors.New("sharedstore: no secret to derive keys from")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// Short everything, and no retries: a call that fails is better
	// answered by in-process coordination than waited for.
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = opts.Timeout, opts.Timeout, opts.Timeout
	ropts.PoolTimeout = opts.Timeout
	ropts.MaxRetries, ropts.DialerRetries = -1, 1
	ropts.ContextTimeoutEnabled = true
	// No CLIENT SETINFO on each new connection: one round trip less on
	// the dial a page may wait for. (It is not needed for compatibility:
	// Valkey supports it since 7.2, and go-redis ignores its error on
	// older servers.)
	ropts.DisableIdentity = true
	// Every connection is guarded against replies the app would not
	// survive reading (guard.go): Redis is trusted with coordination,
	// never with the process.
	ropts.Dialer = guardDialer(redis.NewDialer(ropts))

	sealKey, err := hkdf.Key(sha256.New, opts.Secret, nil, "dosignin shared store sealing v1", 32)
	if err != nil {
		return nil, err
	}
	nameKey, err := hkdf.Key(sha256.New, opts.Secret, nil, "dosignin shared store names v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Store{
		rdb: redis.NewClient(ropts), aead: aead, nameKey: nameKey,
		timeout: opts.Timeout, log: opts.Logger, now: time.Now,
	}, nil
}

// QuietClientLog stops go-redis from logging every failed dial through
// its process-wide logger: a Store logs an outage once per episode
// instead. Call it once, from main, before opening a Store.
func QuietClientLog() { redis.SetLogger(quietLog{}) }

type quietLog struct{}

func (quietLog) Printf(context.Context, string, ...any) {}

// Close closes the connection pool.
func (s *Store) Close() error { return s.rdb.Close() }

// Check pings Redis (at most once a second while it is down) and reports
// "up" or "down", for /healthz.
func (s *Store) Check(ctx context.Context) string {
	if err := s.call(ctx, func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }); err != nil {
		return "down"
	}
	return "up"
}

// Get returns the value stored under name, or nil if there is none. A
// value that does not open with this secret counts as none.
func (s *Store) Get(ctx context.Context, name string) ([]byte, error) {
	key := s.key(name)
	var sealed []byte
	err := s.call(ctx, func(ctx context.Context) error {
		var err error
		sealed, err = s.rdb.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		return err
	})
	if err != nil || sealed == nil {
		return nil, err
	}
	return s.open(key, sealed), nil
}

// Set stores value under name for ttl.
func (s *Store) Set(ctx context.Context, name string, value []byte, ttl time.Duration) error {
	key := s.key(name)
	sealed := s.seal(key, value)
	if len(sealed) > maxValue {
		// Get would refuse it: better not to store it. Redis is fine,
		// so this is no outage.
		return fmt.Errorf("sharedstore: a value of %d bytes, more than the %d the store keeps", len(value), maxValue)
	}
	return s.call(ctx, func(ctx context.Context) error {
		return s.rdb.Set(ctx, key, sealed, ttl).Err()
	})
}

// Lock takes the lock called name for lease, marking it with token (a
// random value the caller made), unless another holder has it: then ok is
// false.
func (s *Store) Lock(ctx context.Context, name, token string, lease time.Duration) (ok bool, err error) {
	key := s.key(name)
	err = s.call(ctx, func(ctx context.Context) error {
		ok, err = s.rdb.SetNX(ctx, key, token, lease).Result()
		return err
	})
	return ok && err == nil, err
}

// The lock's holder compares its token before deleting the key, in one
// atomic step: a lock that expired and was taken by another instance is
// left alone.
var unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) end return 0`)

// Unlock releases the lock called name if token still holds it, and
// leaves anyone else's lock alone.
func (s *Store) Unlock(ctx context.Context, name, token string) error {
	key := s.key(name)
	return s.call(ctx, func(ctx context.Context) error {
		return unlockScript.Run(ctx, s.rdb, []string{key}, token).Err()
	})
}

// call runs one Redis command within the timeout, keeping track of the
// store's health: it fails at once while the store is down, and logs only
// the transitions. A call whose caller has gone (its context is done) says
// nothing about Redis and is not counted.
func (s *Store) call(ctx context.Context, fn func(context.Context) error) error {
	s.mu.Lock()
	if s.down && s.now().Before(s.retryAt) {
		s.mu.Unlock()
		return ErrDown
	}
	s.mu.Unlock()

	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := fn(cctx)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("sharedstore: %w", ctx.Err())
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failures++
		if s.down || s.failures >= downAfter || unreachable(err) {
			if !s.down {
				s.log.Warn("shared store unreachable: coordinating in-process until it is back (another instance may repeat a refresh meanwhile)", "error", err.Error())
			}
			s.down, s.retryAt = true, s.now().Add(retryDown)
		}
		return fmt.Errorf("sharedstore: %w", err)
	}
	if s.down {
		s.log.Info("shared store is back: coordinating across instances again")
	}
	s.down, s.failures = false, 0
	return nil
}

// unreachable reports whether err shows that Redis cannot be reached at
// all, or cannot be trusted: a dial that failed, a connection refused,
// reset or closed, or a reply the guard refused. A timeout on a live
// connection may be one slow call, so it only counts towards downAfter.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op == "dial" || !op.Timeout()
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, errRefused)
}

// key is the Redis key for name: an HMAC, so the key reveals nothing of
// the credential it is about.
func (s *Store) key(name string) string {
	m := hmac.New(sha256.New, s.nameKey)
	m.Write([]byte(name))
	return keyPrefix + hex.EncodeToString(m.Sum(nil))
}

// seal encrypts and authenticates value, bound to its key so that a value
// copied under another key does not open.
func (s *Store) seal(key string, value []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(value)+s.aead.Overhead())
	rand.Read(nonce) // never fails (crypto/rand, Go 1.24+)
	return s.aead.Seal(nonce, nonce, value, []byte(key))
}

// open returns nil for a value that was not sealed with this secret (a
// rotated SESSION_SECRET, or tampering): the caller then acts as if no
// other instance had a result.
func (s *Store) open(key string, sealed []byte) []byte {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil
	}
	value, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(key))
	if err != nil {
		return nil
	}
	return value
}
