package sandbox

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Droplet actions (POST /v2/droplets/{id}/actions) are what change a
// sandbox account. The droplets themselves stay generated (see data.go);
// each account keeps only an overlay of the droplets an action has changed,
// and its recent actions, both bounded. An action is "in-progress" for
// Config.ActionDelay and then "completed"; it completes lazily, when the
// account is next looked at, so the sandbox needs no timer goroutine and a
// test's injected clock decides when actions finish.

// Bounds of one account's state.
const (
	defaultActionDelay = 3 * time.Second // long enough to see "in-progress", short enough to wait for
	maxActions         = 1000            // kept per account; the oldest completed one goes first
	maxChanged         = 10_000          // droplets per account whose status or name an action changed
	maxDropletName     = 255
	firstActionID      = 2_013_004_117
)

// errNoDroplet is answered 404 not_found.
var errNoDroplet = errors.New("droplet not found")

// A refusal is an action request DigitalOcean would answer with 422
// unprocessable_entity; its text is the message, in DigitalOcean's words.
type refusal string

func (r refusal) Error() string { return string(r) }

const (
	errPendingAction refusal = "Droplet already has a pending event."
	errTooManyEdits  refusal = "The sandbox keeps at most 10000 changed droplets per account; restart it to start over."
	errTooManyActive refusal = "The sandbox keeps at most 1000 actions per account and all of them are in progress; wait for some to complete."
)

// actionTypes are the droplet actions the sandbox performs, in the order
// the errors list them.
var actionTypes = []string{"reboot", "power_cycle", "shutdown", "power_off", "power_on", "rename"}

// unsupportedActionTypes are the other types DigitalOcean's description
// lists: the sandbox says it can't do them, rather than that they don't exist.
var unsupportedActionTypes = []string{"enable_backups", "disable_backups", "restore", "password_reset", "resize", "rebuild", "change_kernel", "enable_ipv6", "snapshot"}

// accountState is one sandbox account: who it is, its generated droplets,
// and what actions have changed since the sandbox started.
type accountState struct {
	Account
	catalog *catalog

	mu      sync.Mutex
	changed map[int]*dropletChange // by droplet key (see keyLocked)
	actions []*action              // oldest first
	byID    map[int]*action
	pending []*action // in progress, in no particular order

	// Droplets created and destroyed (provision.go).
	deleted     map[int]bool // indices of the generated droplets destroyed
	newDroplets []*createdDroplet
	createdByID map[int]*createdDroplet
	createdSeq  int // droplets ever created in the account
}

// dropletChange is what actions have done to one droplet.
type dropletChange struct {
	status  string  // "" for the generated status
	name    string  // "" for the generated name
	pending *action // the action in progress on it, or nil
}

// action is one droplet action, with what it does when it completes.
type action struct {
	id        int
	typ       string
	droplet   int // the droplet's key (see keyLocked)
	dropletID int // the droplet's ID, its resource_id
	region    *regionJSON
	started   time.Time
	completes time.Time
	completed bool
	errored   bool   // ended without completing: the droplet was destroyed
	status    string // the droplet's status once completed ("" to keep it)
	name      string // the droplet's name once completed ("" to keep it)
}

func newAccountState(a Account, c *catalog) *accountState {
	a.DropletLimit = max(a.DropletLimit, c.count)
	return &accountState{
		Account:     a,
		catalog:     c,
		changed:     make(map[int]*dropletChange),
		byID:        make(map[int]*action),
		deleted:     make(map[int]bool),
		createdByID: make(map[int]*createdDroplet),
	}
}

// settleLocked completes the actions whose time has come.
func (a *accountState) settleLocked(now time.Time) {
	kept := a.pending[:0]
	for _, act := range a.pending {
		if now.Before(act.completes) {
			kept = append(kept, act)
			continue
		}
		act.completed = true
		ch := a.changed[act.droplet]
		ch.pending = nil
		if act.status != "" {
			ch.status = act.status
		}
		if act.name != "" {
			ch.name = act.name
		}
	}
	clear(a.pending[len(kept):])
	a.pending = kept
}

// dropletLocked builds the droplet with key i as it is now, actions
// included.
func (a *accountState) dropletLocked(i int) dropletJSON {
	cd := a.createdByID[i]
	var d dropletJSON
	if cd != nil {
		d = a.catalog.createdJSON(cd)
	} else {
		d = a.catalog.droplet(i)
	}
	if ch := a.changed[i]; ch != nil {
		if ch.status != "" {
			d.Status = ch.status
		}
		if ch.name != "" {
			d.Name = ch.name
		}
		// DigitalOcean locks a droplet while an action runs, but not while
		// it is being created.
		d.Locked = ch.pending != nil && ch.pending.typ != "create"
	}
	if cd != nil && d.Status != "new" {
		d.Networks = a.catalog.createdNetworks(cd)
	}
	return d
}

// nameLocked is the current name of the droplet with key i.
func (a *accountState) nameLocked(i int) string {
	if ch := a.changed[i]; ch != nil && ch.name != "" {
		return ch.name
	}
	if cd := a.createdByID[i]; cd != nil {
		return cd.name
	}
	return a.catalog.name(i)
}

// droplet returns the droplet with the given ID, or false.
func (a *accountState) droplet(now time.Time, id int) (dropletJSON, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.keyLocked(id)
	if !ok {
		return dropletJSON{}, false
	}
	a.settleLocked(now)
	return a.dropletLocked(i), true
}

// list is GET /v2/droplets for this account: a page of the droplets with
// tag (if not empty) or named name (if not empty; exact, case-insensitive,
// as at DigitalOcean).
func (a *accountState) list(now time.Time, tag, name string, page, perPage int) ([]dropletJSON, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settleLocked(now)
	var match func(int) bool
	switch {
	case tag != "":
		match = a.taggedLocked(tag)
	case name != "":
		match = func(i int) bool { return strings.EqualFold(a.nameLocked(i), name) }
	}
	return a.pageLocked(match, page, perPage)
}

// start begins an action of type typ (already one of actionTypes) on the
// droplet with the given ID; name is the new name of a rename. It returns
// errNoDroplet, or an error whose text is the 422's message.
func (a *accountState) start(now time.Time, id int, typ, name string, delay time.Duration, newID func() int) (actionJSON, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.keyLocked(id)
	if !ok {
		return actionJSON{}, errNoDroplet
	}
	a.settleLocked(now)
	d := a.dropletLocked(i)
	ch := a.changed[i]
	switch {
	case ch != nil && ch.pending != nil:
		return actionJSON{}, errPendingAction
	case ch == nil && len(a.changed) >= maxChanged:
		return actionJSON{}, errTooManyEdits
	}
	act := &action{typ: typ, droplet: i, dropletID: id, region: d.Region, started: now, completes: now.Add(delay)}
	if err := plan(act, d.Status, name); err != nil {
		return actionJSON{}, err
	}
	if len(a.actions) >= maxActions && !a.dropOldestCompletedLocked() {
		return actionJSON{}, errTooManyActive
	}
	act.id = newID()
	if ch == nil {
		ch = &dropletChange{}
		a.changed[i] = ch
	}
	ch.pending = act
	a.actions = append(a.actions, act)
	a.byID[act.id] = act
	a.pending = append(a.pending, act)
	return act.json(), nil
}

// plan checks that the action makes sense for a droplet in status and sets
// what it will change. The rules are DigitalOcean's: a droplet being
// created or archived takes no action, power_on needs a droplet that is
// off, the others one that is on (power_cycle also starts one that is off).
func plan(act *action, status, name string) error {
	switch status {
	case "new":
		return refusal("The droplet is still being created; try again once it is active.")
	case "archive":
		return refusal("The droplet is archived and takes no actions.")
	}
	on := status == "active"
	switch act.typ {
	case "reboot":
		if !on {
			return refusal("Droplet is already powered off; power it on instead.")
		}
		act.status = "active"
	case "power_cycle":
		act.status = "active"
	case "shutdown", "power_off":
		if !on {
			return refusal("Droplet is already powered off.")
		}
		act.status = "off"
	case "power_on":
		if on {
			return refusal("Droplet is already powered on.")
		}
		act.status = "active"
	case "rename":
		if err := checkDropletName(name); err != nil {
			return err
		}
		act.name = name
	}
	return nil
}

// checkDropletName applies DigitalOcean's rule for droplet names: a
// hostname of letters, digits, dots and dashes.
func checkDropletName(name string) error {
	if name == "" {
		return refusal("A rename needs a name.")
	}
	if len(name) > maxDropletName {
		return refusal("The name must be at most 255 characters.")
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return refusal("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
		}
	}
	if strings.HasPrefix(name, "-") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "-") || strings.HasSuffix(name, ".") {
		return refusal("The name must not start or end with a dot or a dash.")
	}
	return nil
}

// dropOldestCompletedLocked forgets the oldest completed action, to make
// room; false when every kept action is still in progress.
func (a *accountState) dropOldestCompletedLocked() bool {
	for k, act := range a.actions {
		if act.completed {
			delete(a.byID, act.id)
			a.actions = slices.Delete(a.actions, k, k+1)
			return true
		}
	}
	return false
}

// action returns the action with the given ID; with droplet >= 0, only if
// it was taken on that droplet (by ID).
func (a *accountState) action(now time.Time, id, dropletID int) (actionJSON, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settleLocked(now)
	act := a.byID[id]
	if act == nil || (dropletID >= 0 && act.dropletID != dropletID) {
		return actionJSON{}, false
	}
	return act.json(), true
}

// listActions returns a page of the account's actions, newest first; with
// dropletID >= 0, only that droplet's.
func (a *accountState) listActions(now time.Time, dropletID, page, perPage int) ([]actionJSON, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settleLocked(now)
	items := []actionJSON{}
	total := 0
	skip := -1
	if page-1 <= len(a.actions)/perPage {
		skip = (page - 1) * perPage
	}
	for k := len(a.actions) - 1; k >= 0; k-- {
		act := a.actions[k]
		if dropletID >= 0 && act.dropletID != dropletID {
			continue
		}
		if skip >= 0 && total >= skip && len(items) < perPage {
			items = append(items, act.json())
		}
		total++
	}
	return items, total
}

// actionJSON is DigitalOcean's action object (components.schemas.action).
type actionJSON struct {
	ID           int         `json:"id"`
	Status       string      `json:"status"` // in-progress, completed or errored
	Type         string      `json:"type"`
	StartedAt    string      `json:"started_at"`
	CompletedAt  *string     `json:"completed_at"`
	ResourceID   int         `json:"resource_id"`
	ResourceType string      `json:"resource_type"`
	Region       *regionJSON `json:"region"`
	RegionSlug   string      `json:"region_slug"`
}

func (act *action) json() actionJSON {
	j := actionJSON{
		ID:           act.id,
		Status:       "in-progress",
		Type:         act.typ,
		StartedAt:    act.started.UTC().Format(time.RFC3339),
		ResourceID:   act.dropletID,
		ResourceType: "droplet",
		Region:       act.region,
		RegionSlug:   act.region.Slug,
	}
	if act.completed {
		done := act.completes.UTC().Format(time.RFC3339)
		j.Status, j.CompletedAt = "completed", &done
		if act.errored {
			j.Status = "errored"
		}
	}
	return j
}
