package sandbox

import "container/list"

// The store keeps at most Config.MaxGrants grants and as many
// authorization codes (spent codes too, kept until they expire to detect a
// replay). Within that bound each kind of entry is shared out
// among the clients, so that no client can take the room of the others:
//
//   - the app's own client (Config.ClientID) has half of the bound to
//     itself, and registered clients never touch it: anyone may register
//     a client, and the app is what the sandbox runs for;
//   - the other clients, registered ones and those of Config.Clients,
//     share the other half (all of it in a standalone sandbox, which has
//     no client of its own), each at most a tenth of it;
//   - an entry that would take a client past its share pushes out that
//     client's oldest entry; one that would overfill the registered
//     clients' half pushes out the oldest entry of the client holding the
//     most.
//
// So a flood evicts the flooder's own entries (or, when many clients
// flood, the entries of whichever holds the most), and nobody is ever
// refused for lack of room: the worst an honest client sees is its oldest
// sign-in signed out. "Oldest" is the entry issued longest ago, and a grant
// counts as issued again each time it is refreshed, so the grants that go
// first are the ones nobody has used for longest.

// shares tracks one kind of entry (codes or grants) per client, oldest
// first. It only decides what to evict; the store owns the entries, and
// forgets those it names.
type shares[T any] struct {
	app       string // the app's client ID; "" in a standalone sandbox
	appShare  int    // room for the app's client
	pool      int    // room for all registered clients together
	perClient int    // room for one registered client
	pooled    int    // entries of registered clients, now
	queues    map[string]*list.List
}

// newShares divides bound entries between the app's client (app, or ""
// for none) and the registered clients.
func newShares[T any](bound int, app string) *shares[T] {
	sh := &shares[T]{app: app, pool: bound, queues: make(map[string]*list.List)}
	if app != "" {
		sh.appShare = bound / 2
		sh.pool = bound - sh.appShare
	}
	sh.perClient = max(sh.pool/10, 1)
	return sh
}

// victim returns the entry that must go before clientID may have one
// more, if any: the client's own oldest when it is at its share, or the
// oldest of the client holding the most when the registered clients' room
// is full. The store forgets it (which removes it here too) before push.
func (sh *shares[T]) victim(clientID string) (e T, ok bool) {
	app := sh.isApp(clientID)
	held := 0
	if q := sh.queues[clientID]; q != nil {
		held = q.Len()
	}
	switch {
	case app && held >= sh.appShare, !app && held >= sh.perClient:
		return sh.oldest(clientID), held > 0
	case !app && sh.pooled >= sh.pool:
		return sh.oldest(sh.largestRegistered()), true
	}
	return e, false
}

// push records e as the newest entry of clientID and returns its place,
// to give back to remove or touch.
func (sh *shares[T]) push(clientID string, e T) *list.Element {
	q := sh.queues[clientID]
	if q == nil {
		q = list.New()
		sh.queues[clientID] = q
	}
	if !sh.isApp(clientID) {
		sh.pooled++
	}
	return q.PushBack(e)
}

// remove forgets an entry that expired, was revoked or was evicted. The
// caller clears its own copy of elem, so that nothing is removed twice.
func (sh *shares[T]) remove(clientID string, elem *list.Element) {
	q := sh.queues[clientID]
	if q == nil || elem == nil {
		return
	}
	q.Remove(elem)
	if !sh.isApp(clientID) {
		sh.pooled--
	}
	if q.Len() == 0 {
		delete(sh.queues, clientID)
	}
}

// touch makes an entry its client's newest (a grant that was refreshed).
func (sh *shares[T]) touch(clientID string, elem *list.Element) {
	if q := sh.queues[clientID]; q != nil && elem != nil {
		q.MoveToBack(elem)
	}
}

// expire offers each client's entries, oldest first, to drop, which
// forgets the ones that have expired (removing them here) and reports
// whether it did; a client's first live entry ends its walk, since the
// entries after it expire later.
func (sh *shares[T]) expire(drop func(T) bool) {
	for _, q := range sh.queues {
		for q.Len() > 0 && drop(q.Front().Value.(T)) {
		}
	}
}

// oldest returns the oldest entry of a client, or the zero T if it has none.
func (sh *shares[T]) oldest(clientID string) (e T) {
	if q := sh.queues[clientID]; q != nil && q.Len() > 0 {
		e = q.Front().Value.(T)
	}
	return e
}

func (sh *shares[T]) isApp(clientID string) bool {
	return sh.app != "" && clientID == sh.app
}

// largestRegistered returns the registered client holding the most
// entries. It walks every client, but only when the registered clients'
// room is full, and there are at most maxClients of them.
func (sh *shares[T]) largestRegistered() string {
	largest, n := "", 0
	for id, q := range sh.queues {
		if !sh.isApp(id) && q.Len() > n {
			largest, n = id, q.Len()
		}
	}
	return largest
}
