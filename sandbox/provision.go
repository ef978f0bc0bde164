package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Creating and destroying droplets (POST /v2/droplets, DELETE
// /v2/droplets/{id}) is the rest of the account's overlay. A created
// droplet is stored, small (a name, pointers into the catalogue, its
// tags); a destroyed generated droplet is only its index in a set. A
// created droplet starts "new", with no addresses and a "create" action in
// progress, and becomes "active" with its networks when that action
// completes, after Config.ActionDelay, like any other action.
//
// Everything stays bounded: the droplets an account has at once by its
// droplet_limit (and the created ones by maxCreated), the destroyed
// generated ones by how many were generated, the actions as before.

// Limits of droplet creation.
const (
	// firstCreatedID is the ID of the first droplet created in the
	// sandbox; IDs then count up across accounts. It is above every
	// generated ID of both accounts (the second account's last is below
	// firstDropletID + 2*37*maxDroplets + 1_000_003), so an ID is either
	// generated or created, never both.
	firstCreatedID = 502_118_409

	// dropletRoom is how many droplets the default account may create
	// whatever Config.Droplets is: its droplet_limit is the generated
	// count plus this, because DigitalOcean's limit counts every droplet.
	dropletRoom = 25

	maxCreated     = 1000     // created droplets alive at once per account, whatever the limit says
	maxNames       = 10       // droplets per request, as at DigitalOcean
	maxTags        = 25       // tags per created droplet
	maxTagLength   = 255      // as at DigitalOcean
	maxUserData    = 64 << 10 // as at DigitalOcean
	maxCreateBytes = 1 << 20  // the request body: room for user_data and the rest
)

// The 422 messages of a create request, in DigitalOcean's words where
// DigitalOcean's are known.
const (
	errDropletLimit      refusal = "creating this/these droplet(s) will exceed your droplet limit"
	errTooManyCreated    refusal = "The sandbox keeps at most 1000 created droplets per account; destroy some first."
	errInvalidRegion     refusal = "You specified an invalid region for Droplet creation."
	errRegionUnavailable refusal = "Region is not available"
	errInvalidSize       refusal = "You specified an invalid size for Droplet creation."
	errSizeNotInRegion   refusal = "Size is not available in this region."
	errInvalidImage      refusal = "You specified an invalid image for Droplet creation."
)

// createRequest is the body of POST /v2/droplets
// (components.schemas.droplet_single_create and droplet_multi_create).
// image and each of ssh_keys may be a number (an ID) or a string (a slug
// or a fingerprint), so they are decoded later.
type createRequest struct {
	Name             string            `json:"name"`
	Names            []string          `json:"names"`
	Region           string            `json:"region"`
	Size             string            `json:"size"`
	Image            json.RawMessage   `json:"image"`
	SSHKeys          []json.RawMessage `json:"ssh_keys"`
	Backups          bool              `json:"backups"`
	IPv6             bool              `json:"ipv6"`
	Monitoring       bool              `json:"monitoring"`
	Tags             []string          `json:"tags"`
	UserData         string            `json:"user_data"`
	Volumes          []string          `json:"volumes"`
	VPCUUID          string            `json:"vpc_uuid"`
	WithDropletAgent *bool             `json:"with_droplet_agent"`
	PublicNetworking *bool             `json:"public_networking"`
}

// dropletSpec is a checked create request, everything but the names.
type dropletSpec struct {
	region   int // index in the account catalog's regions
	size     *sizeJSON
	image    *imageJSON
	tags     []string
	features []string
	ipv6     bool
	public   bool // a public IPv4 (and IPv6) address, not only a private one
}

// createdDroplet is a droplet created in the account.
type createdDroplet struct {
	dropletSpec
	id      int
	seq     int // 1 for the account's first created droplet, for its addresses
	name    string
	created time.Time
}

// actionLinkJSON is one of links.actions in the create response
// (components.schemas.action_link).
type actionLinkJSON struct {
	ID   int    `json:"id"`
	Rel  string `json:"rel"`
	HREF string `json:"href"`
}

type createLinks struct {
	Actions []actionLinkJSON `json:"actions"`
}

// The bodies of POST /v2/droplets (components.responses.droplet_create).
type (
	createdOne struct {
		Droplet dropletJSON `json:"droplet"`
		Links   createLinks `json:"links"`
	}
	createdMany struct {
		Droplets []dropletJSON `json:"droplets"`
		Links    createLinks   `json:"links"`
	}
)

// handleCreateDroplet serves POST /v2/droplets: 202 with the droplet (or,
// for names, the droplets) in status "new" and the create actions, in
// progress, in links.actions. Nothing is created unless everything asked
// for is valid and fits under the droplet limit.
func (s *Server) handleCreateDroplet(w http.ResponseWriter, r *http.Request, acct *accountState) {
	var req createRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCreateBytes))
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		var wrongType *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			writeAPIError(w, http.StatusRequestEntityTooLarge, "request_entity_too_large", "The request body must be at most 1 MiB.")
		case errors.As(err, &wrongType) && wrongType.Field != "":
			writeAPIError(w, http.StatusBadRequest, "bad_request", wrongType.Field+" has the wrong type: it cannot be a JSON "+wrongType.Value+".")
		default:
			writeAPIError(w, http.StatusBadRequest, "bad_request", `The body must be a JSON object such as {"name": "web-01", "region": "nyc3", "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64"}.`)
		}
		return
	}
	if sc := missingFieldScope(grantScope(r), &req); sc != "" {
		writeAPIError(w, http.StatusForbidden, "forbidden", "You are not authorized to perform this operation: a droplet created this way also needs the "+sc+" scope.")
		return
	}
	names, spec, err := acct.catalog.checkCreate(&req)
	if err != nil {
		writeAPIError(w, http.StatusUnprocessableEntity, "unprocessable_entity", err.Error())
		return
	}
	droplets, actions, err := acct.create(s.now(), names, spec, s.actionDelay, s.newDropletID, s.newActionID)
	if err != nil {
		writeAPIError(w, http.StatusUnprocessableEntity, "unprocessable_entity", err.Error())
		return
	}
	s.writeCreated(w, r, req.Names != nil, droplets, actions)
}

func (s *Server) writeCreated(w http.ResponseWriter, r *http.Request, many bool, droplets []dropletJSON, actions []actionJSON) {
	root := rootURL(r, "/v2/droplets")
	links := createLinks{Actions: []actionLinkJSON{}}
	for k, act := range actions {
		links.Actions = append(links.Actions, actionLinkJSON{ID: act.ID, Rel: "create", HREF: root + "/v2/actions/" + strconv.Itoa(act.ID)})
		s.log.Info("sandbox: droplet created", "droplet", droplets[k].ID, "region", droplets[k].Region.Slug, "size", droplets[k].SizeSlug, "action", act.ID)
	}
	if many {
		writeJSON(w, http.StatusAccepted, createdMany{Droplets: droplets, Links: links})
		return
	}
	writeJSON(w, http.StatusAccepted, createdOne{Droplet: droplets[0], Links: links})
}

func (s *Server) newDropletID() int {
	return int(s.lastDropletID.Add(1))
}

// missingFieldScope returns a granular scope that the fields of req need
// besides droplet:create and that the grant lacks, or "". DigitalOcean's
// description marks each: the image needs image:read, SSH keys
// ssh_key:read, tags tag:create, a VPC vpc:read. "read" covers the reads
// and "write" everything.
func missingFieldScope(granted string, req *createRequest) string {
	type need struct {
		scope string
		write bool
		asked bool
	}
	for _, n := range []need{
		{"image:read", false, true},
		{"ssh_key:read", false, len(req.SSHKeys) > 0},
		{"tag:create", true, len(req.Tags) > 0},
		{"vpc:read", false, req.VPCUUID != ""},
	} {
		if n.asked && !scopeAllows(granted, n.scope, n.write) {
			return n.scope
		}
	}
	return ""
}

// checkCreate checks a create request against the catalogue and returns
// the names to create and what each droplet will be, or the first problem.
func (c *catalog) checkCreate(req *createRequest) ([]string, dropletSpec, error) {
	var spec dropletSpec
	names, err := checkNames(req)
	if err != nil {
		return nil, spec, err
	}

	spec.size = c.offer.size(req.Size)
	switch {
	case req.Size == "":
		return nil, spec, refusal("size is required: a slug from /v2/sizes, such as s-1vcpu-1gb.")
	case spec.size == nil:
		return nil, spec, errInvalidSize
	case !spec.size.Available:
		return nil, spec, refusal("Size " + req.Size + " is no longer available for new droplets.")
	}

	if spec.image, err = c.checkImage(req.Image); err != nil {
		return nil, spec, err
	}
	if spec.region, err = c.place(req.Region, spec.size, spec.image); err != nil {
		return nil, spec, err
	}
	if spec.size.Disk < spec.image.MinDiskSize {
		return nil, spec, refusal("The image needs a disk of at least " + strconv.Itoa(spec.image.MinDiskSize) + " GB; size " + spec.size.Slug + " has " + strconv.Itoa(spec.size.Disk) + " GB.")
	}

	var badKeys []string
	for _, raw := range req.SSHKeys {
		id, fingerprint, ok := parseIdentifier(raw)
		if _, found := c.key(id, fingerprint); !ok || !found {
			badKeys = append(badKeys, strings.Trim(string(raw), `"`))
		}
	}
	if len(badKeys) > 0 {
		return nil, spec, refusal(truncate(strings.Join(badKeys, ", "), 200) + " are invalid key identifiers for Droplet creation.")
	}

	if spec.tags, err = checkTags(req.Tags); err != nil {
		return nil, spec, err
	}
	switch {
	case len(req.UserData) > maxUserData:
		return nil, spec, refusal("user_data must be at most 64 KiB.")
	case len(req.Volumes) > 0:
		return nil, spec, refusal("The sandbox has no block storage volumes to attach; create the droplet without volumes.")
	case req.VPCUUID != "" && req.VPCUUID != c.vpcs[spec.region]:
		return nil, spec, refusal("vpc_uuid must be the account's VPC in " + c.regions[spec.region].Slug + ", " + c.vpcs[spec.region] + ".")
	}

	spec.public = req.PublicNetworking == nil || *req.PublicNetworking
	if req.IPv6 && !spec.public {
		return nil, spec, refusal("ipv6 must be false when public_networking is false.")
	}
	spec.ipv6 = req.IPv6
	if req.Backups {
		spec.features = append(spec.features, "backups")
	}
	if req.Monitoring {
		spec.features = append(spec.features, "monitoring")
	}
	if req.WithDropletAgent == nil || *req.WithDropletAgent {
		spec.features = append(spec.features, "droplet_agent")
	}
	spec.features = append(spec.features, "private_networking")
	if spec.ipv6 {
		spec.features = append(spec.features, "ipv6")
	}
	return names, spec, nil
}

// checkNames returns the names of the droplets to create: name, or the
// 1 to 10 names of a multiple create, each a valid hostname.
func checkNames(req *createRequest) ([]string, error) {
	names := req.Names
	switch {
	case req.Names != nil && req.Name != "":
		return nil, refusal("Give either name or names, not both.")
	case req.Names == nil && req.Name == "":
		return nil, refusal("name is required.")
	case req.Names == nil:
		names = []string{req.Name}
	case len(req.Names) == 0:
		return nil, refusal("names must not be empty.")
	case len(req.Names) > maxNames:
		return nil, refusal("At most 10 droplets can be created at a time.")
	}
	for _, name := range names {
		if name == "" {
			return nil, refusal("Every droplet needs a name.")
		}
		if err := checkDropletName(name); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// checkImage finds the image a create request names: a public image by
// slug, or a public or own image by ID (a number, or a string of digits).
func (c *catalog) checkImage(raw json.RawMessage) (*imageJSON, error) {
	id, slug, ok := parseIdentifier(raw)
	var img *imageJSON
	switch {
	case !ok && (len(raw) == 0 || string(raw) == "null"):
		return nil, refusal("image is required: a slug such as ubuntu-24-04-x64, or an image ID.")
	case slug != "":
		img = c.offer.publicImage(func(img *imageJSON) bool { return *img.Slug == slug })
	case ok:
		img = c.image(id)
	}
	if img == nil {
		return nil, errInvalidImage
	}
	return img, nil
}

// parseIdentifier reads an image or SSH key as a create request names it:
// a positive number, or a string of digits, is an ID (id); another string
// is a slug or a fingerprint (text). ok is false for anything else.
func parseIdentifier(raw json.RawMessage) (id int, text string, ok bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && string(raw) != "null" {
		if n, err := strconv.Atoi(s); err == nil {
			return n, "", n > 0
		}
		return 0, s, s != ""
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil && string(raw) != "null" {
		return n, "", n > 0
	}
	return 0, "", false
}

// place returns the index, among the account's regions, of the region a
// droplet of size from image goes to. want is a region slug; a prefix such
// as "nyc", for any of that city's open regions; or "" for any open
// region, as DigitalOcean allows. The first that offers the size and holds
// the image wins.
func (c *catalog) place(want string, size *sizeJSON, image *imageJSON) (int, error) {
	exact := c.offer.region(want)
	if exact != nil && !exact.Available {
		return 0, errRegionUnavailable
	}
	prefix := exact == nil && want != "" && strings.Trim(want, "abcdefghijklmnopqrstuvwxyz") == ""
	candidates, sized := 0, 0
	for k, r := range c.regions {
		if want != "" && r.Slug != want && !(prefix && strings.HasPrefix(r.Slug, want)) {
			continue
		}
		candidates++
		if !slices.Contains(size.Regions, r.Slug) {
			continue
		}
		sized++
		if slices.Contains(image.Regions, r.Slug) {
			return k, nil
		}
	}
	switch {
	case candidates == 0:
		return 0, errInvalidRegion
	case sized == 0:
		return 0, errSizeNotInRegion
	}
	return 0, refusal("The image is not available in that region: it is kept in " + strings.Join(image.Regions, ", ") + ".")
}

// checkTags returns tags without duplicates, each as DigitalOcean allows
// tag names: letters, digits, colons, dashes and underscores, at most 255.
func checkTags(tags []string) ([]string, error) {
	out := []string{}
	for _, tag := range tags {
		if tag == "" || len(tag) > maxTagLength || strings.Trim(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_") != "" {
			return nil, refusal("Tag names may contain only letters, numbers, colons, dashes and underscores, and be at most 255 characters: " + strconv.Quote(truncate(tag, 64)) + " is not one.")
		}
		if !slices.Contains(out, tag) {
			out = append(out, tag)
		}
	}
	if len(out) > maxTags {
		return nil, refusal("The sandbox keeps at most 25 tags per droplet.")
	}
	return out, nil
}

// truncate shortens s to at most n bytes, for quoting user input in an
// error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// create makes a droplet named each of names, all or none: none when they
// would take the account past its droplet limit.
func (a *accountState) create(now time.Time, names []string, spec dropletSpec, delay time.Duration, newDropletID, newActionID func() int) ([]dropletJSON, []actionJSON, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settleLocked(now)
	switch {
	case a.liveLocked()+len(names) > a.DropletLimit:
		return nil, nil, errDropletLimit
	case len(a.newDroplets)+len(names) > maxCreated:
		return nil, nil, errTooManyCreated
	}
	for len(a.actions)+len(names) > maxActions {
		if !a.dropOldestCompletedLocked() {
			return nil, nil, errTooManyActive
		}
	}
	var droplets []dropletJSON
	var actions []actionJSON
	for _, name := range names {
		a.createdSeq++
		cd := &createdDroplet{dropletSpec: spec, id: newDropletID(), seq: a.createdSeq, name: name, created: now}
		act := &action{
			id: newActionID(), typ: "create", droplet: cd.id, dropletID: cd.id, region: a.catalog.regions[spec.region],
			started: now, completes: now.Add(delay), status: "active",
		}
		a.newDroplets = append(a.newDroplets, cd)
		a.createdByID[cd.id] = cd
		a.changed[cd.id] = &dropletChange{pending: act}
		a.actions = append(a.actions, act)
		a.byID[act.id] = act
		a.pending = append(a.pending, act)
		droplets = append(droplets, a.dropletLocked(cd.id))
		actions = append(actions, act.json())
	}
	return droplets, actions, nil
}

// liveLocked is how many droplets the account has now, which is what its
// droplet limit counts.
func (a *accountState) liveLocked() int {
	return a.catalog.count - len(a.deleted) + len(a.newDroplets)
}

// live is how many droplets the account has now.
func (a *accountState) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.liveLocked()
}

// keyLocked returns the key under which the account keeps the droplet with
// that ID (in changed, and as actions' droplet): its index in the catalog
// for a generated droplet, its ID for a created one (created IDs are far
// above any index). false: the account has no such droplet, or no longer.
func (a *accountState) keyLocked(id int) (int, bool) {
	if i, ok := a.catalog.index(id); ok {
		return i, !a.deleted[i]
	}
	_, ok := a.createdByID[id]
	return id, ok
}

// has reports whether the account has the droplet with that ID.
func (a *accountState) has(id int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.keyLocked(id)
	return ok
}

// destroy deletes the droplet with that ID, or returns errNoDroplet. An
// action in progress on it ends "errored", as it never completes.
func (a *accountState) destroy(now time.Time, id int) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settleLocked(now)
	key, ok := a.keyLocked(id)
	if !ok {
		return errNoDroplet
	}
	a.forgetChangesLocked(now, key)
	if cd := a.createdByID[key]; cd != nil {
		delete(a.createdByID, key)
		a.newDroplets = slices.DeleteFunc(a.newDroplets, func(x *createdDroplet) bool { return x == cd })
		return nil
	}
	a.deleted[key] = true
	return nil
}

// destroyTagged deletes every droplet tagged tag and says how many.
func (a *accountState) destroyTagged(now time.Time, tag string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.settleLocked(now)
	n := 0
	tagged := a.catalog.tagged(tag)
	for i := range a.catalog.count {
		if !a.deleted[i] && tagged(i) {
			a.forgetChangesLocked(now, i)
			a.deleted[i] = true
			n++
		}
	}
	kept := a.newDroplets[:0]
	for _, cd := range a.newDroplets {
		if !slices.Contains(cd.tags, tag) {
			kept = append(kept, cd)
			continue
		}
		a.forgetChangesLocked(now, cd.id)
		delete(a.createdByID, cd.id)
		n++
	}
	clear(a.newDroplets[len(kept):])
	a.newDroplets = kept
	return n
}

// forgetChangesLocked drops what actions did to the droplet with that
// key, ending the one in progress, if any, as errored.
func (a *accountState) forgetChangesLocked(now time.Time, key int) {
	ch := a.changed[key]
	if ch == nil {
		return
	}
	if act := ch.pending; act != nil {
		act.completed, act.errored, act.completes = true, true, now
		a.pending = slices.DeleteFunc(a.pending, func(p *action) bool { return p == act })
	}
	delete(a.changed, key)
}

// taggedLocked returns a match function, on droplet keys, for the
// droplets tagged tag, generated or created.
func (a *accountState) taggedLocked(tag string) func(int) bool {
	generated := a.catalog.tagged(tag)
	return func(key int) bool {
		if cd := a.createdByID[key]; cd != nil {
			return slices.Contains(cd.tags, tag)
		}
		return generated(key)
	}
}

// pageLocked returns page `page` of perPage droplets among those match
// keeps (all when match is nil), and how many it keeps: the generated
// droplets not destroyed, in catalog order, then the created ones, oldest
// first, as DigitalOcean lists droplets by age.
func (a *accountState) pageLocked(match func(key int) bool, page, perPage int) ([]dropletJSON, int) {
	generated := match
	if len(a.deleted) > 0 {
		generated = func(i int) bool { return !a.deleted[i] && (match == nil || match(i)) }
	}
	items, total := a.catalog.list(generated, a.dropletLocked, page, perPage)
	// The created droplets take the positions after the generated ones.
	start := -1
	if page-1 <= (total+len(a.newDroplets))/perPage {
		start = (page - 1) * perPage
	}
	for _, cd := range a.newDroplets {
		if match != nil && !match(cd.id) {
			continue
		}
		if start >= 0 && total >= start && len(items) < perPage {
			items = append(items, a.dropletLocked(cd.id))
		}
		total++
	}
	return items, total
}

// createdJSON builds a created droplet as it is while being created: "new", with
// no addresses yet (dropletLocked adds them once it is active).
func (c *catalog) createdJSON(cd *createdDroplet) dropletJSON {
	window := cd.created.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	return dropletJSON{
		ID:               cd.id,
		Name:             cd.name,
		Memory:           cd.size.Memory,
		VCPUs:            cd.size.VCPUs,
		Disk:             cd.size.Disk,
		DiskInfo:         cd.size.DiskInfo,
		Status:           "new",
		CreatedAt:        cd.created.UTC().Format(time.RFC3339),
		Features:         cd.features,
		BackupIDs:        []int{},
		NextBackupWindow: &backupWindowJSON{Start: window.Format(time.RFC3339), End: window.Add(23 * time.Hour).Format(time.RFC3339)},
		SnapshotIDs:      []int{},
		Image:            cd.image,
		VolumeIDs:        []string{},
		Size:             cd.size,
		SizeSlug:         cd.size.Slug,
		Networks:         networksJSON{V4: []networkV4JSON{}, V6: []networkV6JSON{}},
		Region:           c.regions[cd.region],
		Tags:             cd.tags,
		VPCUUID:          c.vpcs[cd.region],
	}
}

// createdNetworks are a created droplet's addresses once it is active,
// numbered after the generated droplets' so that they differ from theirs.
func (c *catalog) createdNetworks(cd *createdDroplet) networksJSON {
	n := dropletNetworks(c.netBase+c.count+cd.seq, cd.region, cd.ipv6)
	if !cd.public {
		n.V4 = slices.DeleteFunc(n.V4, func(v networkV4JSON) bool { return v.Type == "public" })
	}
	return n
}

// handleDeleteDroplet serves DELETE /v2/droplets/{id}: 204, and the
// droplet, generated or created, is gone. Another account's droplet, or
// one already destroyed, is not found. A droplet with an action in
// progress can be destroyed, as at DigitalOcean; the action ends errored.
func (s *Server) handleDeleteDroplet(w http.ResponseWriter, r *http.Request, acct *accountState) {
	id, ok := pathID(r, "id")
	if !ok || acct.destroy(s.now(), id) != nil {
		writeNotFound(w)
		return
	}
	s.log.Info("sandbox: droplet destroyed", "droplet", id)
	s.destroyed.Add(1)
	writeNoContent(w)
}

// handleDeleteTagged serves DELETE /v2/droplets?tag_name=...: 204, and
// every droplet with that tag is gone.
func (s *Server) handleDeleteTagged(w http.ResponseWriter, r *http.Request, acct *accountState) {
	tag := r.URL.Query().Get("tag_name")
	if tag == "" {
		writeAPIError(w, http.StatusBadRequest, "bad_request", "tag_name is required: DELETE /v2/droplets destroys the droplets with that tag.")
		return
	}
	n := acct.destroyTagged(s.now(), tag)
	s.log.Info("sandbox: droplets destroyed by tag", "count", n)
	s.destroyed.Add(int64(n))
	writeNoContent(w)
}

// writeNoContent writes DigitalOcean's 204: no body, but a Content-Type
// (components.responses.no_content_with_content_type).
func writeNoContent(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNoContent)
}
