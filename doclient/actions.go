package doclient

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/digitalocean/godo"
	"golang.org/x/oauth2"
)

// The power actions the app offers, by DigitalOcean's names for them
// (POST /v2/droplets/{id}/actions {"type": ...}). Each needs a token with
// write access (the droplet:update scope).
const (
	ActionReboot     = "reboot"      // a graceful restart
	ActionPowerCycle = "power_cycle" // a hard reset: off, then on
	ActionShutdown   = "shutdown"    // a graceful shutdown (the OS powers off)
	ActionPowerOff   = "power_off"   // a hard power off, like pulling the plug
	ActionPowerOn    = "power_on"
)

// IsPowerAction reports whether t is one of the Action... constants.
func IsPowerAction(t string) bool {
	switch t {
	case ActionReboot, ActionPowerCycle, ActionShutdown, ActionPowerOff, ActionPowerOn:
		return true
	}
	return false
}

// Statuses of an action (godo.Action.Status).
const (
	ActionInProgress = "in-progress"
	ActionCompleted  = "completed"
	ActionErrored    = "errored"
)

// ActionOnceFor is how long [Client.DropletAction] remembers the action a
// one-time key started: as long as the confirmation form that carries the
// key may be used.
const ActionOnceFor = 10 * time.Minute

// Droplet returns one droplet (GET /v2/droplets/{id}). Another account's
// droplet, or one that was destroyed, is an [*APIError] with StatusCode 404;
// an answer without that droplet is an error for which [IsMalformed] is
// true.
func (c *Client) Droplet(ctx context.Context, ts oauth2.TokenSource, id int) (*godo.Droplet, error) {
	ctx, cancel := context.WithTimeout(withTokenSource(ctx, ts), c.timeout)
	defer cancel()
	d, _, err := c.api.Droplets.Get(ctx, id)
	switch {
	case err != nil:
		return nil, wrapError(ctx, "get droplet", err)
	case d == nil || d.ID != id:
		return nil, malformed("get droplet", "not the droplet asked for")
	}
	return d, nil
}

// Action returns an action (GET /v2/actions/{id}), to follow its progress
// from in-progress to completed or errored. An answer without that action
// is an error for which [IsMalformed] is true.
func (c *Client) Action(ctx context.Context, ts oauth2.TokenSource, id int) (*godo.Action, error) {
	ctx, cancel := context.WithTimeout(withTokenSource(ctx, ts), c.timeout)
	defer cancel()
	a, _, err := c.api.Actions.Get(ctx, id)
	switch {
	case err != nil:
		return nil, wrapError(ctx, "get action", err)
	case a == nil || a.ID != id:
		return nil, malformed("get action", "not the action asked for")
	}
	return a, nil
}

// DropletAction starts the power action t (one of the Action... constants)
// on droplet id, through godo's DropletActions, and returns the action
// DigitalOcean created, usually in-progress. Follow it with [Client.Action].
//
// The POST is sent once and never retried, not even after a short 429 (the
// rate-limit retry is for GETs only): a second POST could act twice. A
// timeout or 5xx therefore leaves the caller not knowing whether the action
// started; [IsTimeout] and [IsUnavailable] say which it was. So does a 2xx
// answer without the action ([IsMalformed]): DigitalOcean accepted the
// POST, so the action may have started, but there is no action to follow;
// the droplet's page shows whether it did.
//
// once is the one-time key of the user's confirmation (its hash is kept,
// never the key). Calls with the same once share one POST: one arriving
// while the POST is in flight waits for it, and one arriving later, within
// [ActionOnceFor], gets the same result without a request. A
// double-submitted form thus starts one action, and both answers show it.
// This holds within the process; two instances that receive the same key
// at the same moment each send their POST, and DigitalOcean refuses the
// second with 422 (the droplet has an action in progress). An empty once
// turns the sharing off.
func (c *Client) DropletAction(ctx context.Context, ts oauth2.TokenSource, id int, t, once string) (*godo.Action, error) {
	if !IsPowerAction(t) {
		return nil, fmt.Errorf("doclient: droplet action: unknown type %q", t)
	}
	op := "droplet action " + t
	post := func(ctx context.Context) (*godo.Action, error) {
		ctx, cancel := context.WithTimeout(withTokenSource(ctx, ts), c.timeout)
		defer cancel()
		a, _, err := powerAction(c.api.DropletActions, t)(ctx, id)
		switch {
		case err != nil:
			return nil, wrapError(ctx, op, err)
		case a == nil || a.ID < 1:
			return nil, malformed(op, "no action")
		}
		return a, nil
	}
	if once == "" {
		return post(ctx)
	}
	// Every outcome is kept, failures too: after a timeout the action
	// may have started, and the same confirmation must not send it again.
	// All but a 401: DigitalOcean refused the token before acting, and a
	// caller that renews the token (handlers' withToken) must be able to
	// send the POST again with it.
	key := hashOf("droplet action", once, fmt.Sprint(id), t)
	look := func() (*godo.Action, bool, error) {
		r, ok := c.actions.get(key, c.now())
		return r.val, ok, r.err
	}
	a, err := c.actions.do(ctx, key, look, func(ctx context.Context) (*godo.Action, error) {
		a, err := post(ctx)
		if !IsUnauthorized(err) {
			c.actions.put(key, memoResult[*godo.Action]{val: a, err: err, at: c.now()})
		}
		return a, err
	})
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("doclient: droplet action: %w", ctx.Err())
	}
	return copyAction(a), err
}

// powerAction returns godo's method for action type t.
func powerAction(s godo.DropletActionsService, t string) func(context.Context, int) (*godo.Action, *godo.Response, error) {
	switch t {
	case ActionReboot:
		return s.Reboot
	case ActionPowerCycle:
		return s.PowerCycle
	case ActionShutdown:
		return s.Shutdown
	case ActionPowerOff:
		return s.PowerOff
	}
	return s.PowerOn
}

// copyAction gives each caller its own copy of a shared result.
func copyAction(a *godo.Action) *godo.Action {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

// IsActionRefused reports whether DigitalOcean refused a droplet action as
// impossible right now (422 unprocessable_entity): the droplet is already
// in that state, or another action is in progress on it. Message says which.
func IsActionRefused(err error) (*APIError, bool) {
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == 422 {
		return ae, true
	}
	return nil, false
}

// IsForbidden reports whether the API refused the call because the token's
// scope does not allow it (403 forbidden): a read-only token asking for an
// action.
func IsForbidden(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == 403
}

// IsNotFound reports whether the API answered 404: the droplet or action
// does not exist, or belongs to another account.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == 404
}
