package handlers

// Creating a droplet on the user's behalf: what apps that sign users in
// with DigitalOcean, such as Conveyor, exist for. It costs the user money,
// so it is asked for, priced and confirmed like nothing else here.
//
//	GET  /droplets/new?region=...          the form, its choices from the API; a GET round trip refreshes the sizes for a region
//	POST /droplets                         the form sent: checked, then on to the confirmation
//	GET  /droplets/new/confirm?name=...    the confirmation with the price, or the step-up page with a read-only session
//	POST /droplets/new/step-up             connect again with read write, the droplet pending in the login cookie
//	POST /droplets (confirm=<token>)       the confirmation: POST /v2/droplets once, then the droplet's page
//	GET  /droplets/{id}                    follows the droplet from "new" to "active", then shows its IPv4
//
// As for the power actions, no GET changes anything at DigitalOcean, every
// POST is same-origin only and answers with a redirect to a GET page, and
// a confirmation is bound to exactly what it confirms: here a hash of the
// droplet's whole description (createPurpose).

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/digitalocean/godo"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"

	"dosignin/doclient"
	"dosignin/handlers/flow"
)

// Limits of the create form. Beside DigitalOcean's own rules, they keep a
// droplet's description small enough to wait in the login cookie during
// a step-up (see pendingAction), whatever is typed.
const (
	maxDropletName = 255 // DigitalOcean's limit
	maxSlug        = 64  // a region, size or image slug (DigitalOcean's are under 30)
	maxCreateKeys  = 10  // SSH keys given to one new droplet
	maxCreateTags  = 10  // tags given to one new droplet
	maxTagsText    = 255 // the tags field, all tags together
)

// createParams are the fields of the create form (and of the confirmation
// page's address): each once, ssh_keys once per key.
func createParams() []string {
	return []string{"name", "region", "size", "image", "ssh_keys", "tags"}
}

// createForm is the create form as sent, to check and to show again.
type createForm struct {
	Name, Region, Size, Image string
	Keys                      []int  // SSH key IDs, each once
	Tags                      string // as typed: separated by spaces or commas
}

// dropletSpec is the droplet a confirmation creates: the form's values in
// a canonical form (its keys and tags split, sorted, each once, since
// DigitalOcean gives their order no meaning), so that one droplet has one
// spec. It is what the purpose of the confirmation hashes, what doclient's
// one-time key shares a POST for, and what a step-up keeps in the login
// cookie.
type dropletSpec struct {
	Name   string   `json:"name"`
	Region string   `json:"region"`
	Size   string   `json:"size"`
	Image  string   `json:"image"` // a distribution image's slug, or its ID for one without a slug
	Keys   []int    `json:"keys,omitempty"`
	Tags   []string `json:"tags,omitempty"`
}

// fieldErrors says, for each field of the create form, what is wrong
// with it ("": nothing).
type fieldErrors struct {
	Name, Region, Size, Image, Keys, Tags string
}

// Any reports whether any field has something wrong with it.
func (e fieldErrors) Any() bool { return e != fieldErrors{} }

// parseCreateForm reads the create form's fields from v (a query, or a
// POST body), also allowing the names in also. Anything a form of this
// app cannot send (an unknown or repeated field, a slug or key ID that is
// not one) is a 400 that names the field; a value DigitalOcean would
// refuse (a name that is not a hostname) is for check to say, beside the
// field.
func parseCreateForm(v url.Values, also ...string) (createForm, error) {
	bad := func(what string) error {
		return &Problem{Status: http.StatusBadRequest, Title: "This create form is not valid",
			Message: "The request has " + what + ". Open the create form from your droplet list and send it from there."}
	}
	var f createForm
	for key, values := range v {
		// Only known names are ever quoted back, so a crafted URL cannot
		// put words of its choosing on this site's page.
		if !slices.Contains(createParams(), key) && !slices.Contains(also, key) {
			return f, bad("an unknown field (the form's fields are name, region, size, image, ssh_keys and tags)")
		}
		if key != "ssh_keys" && len(values) > 1 {
			return f, bad("the field " + strconv.Quote(key) + " more than once")
		}
	}
	f.Name, f.Tags = strings.TrimSpace(v.Get("name")), strings.TrimSpace(v.Get("tags"))
	for _, field := range []struct {
		name, example string
		value         *string
	}{{"region", "nyc3", &f.Region}, {"size", "s-1vcpu-1gb", &f.Size}, {"image", "ubuntu-24-04-x64", &f.Image}} {
		*field.value = strings.TrimSpace(v.Get(field.name))
		if len(*field.value) > maxSlug || strings.ContainsFunc(*field.value, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') }) {
			return f, bad("a " + field.name + " that is not a slug such as " + field.example)
		}
	}
	for _, raw := range v["ssh_keys"] {
		id, err := strconv.Atoi(raw)
		if err != nil || id <= 0 || strconv.Itoa(id) != raw {
			return f, bad("an SSH key that is not a key ID (a number)")
		}
		if !slices.Contains(f.Keys, id) {
			f.Keys = append(f.Keys, id)
		}
	}
	return f, nil
}

// spec is the droplet f describes, checked or not.
func (f createForm) spec() dropletSpec {
	sp := dropletSpec{Name: f.Name, Region: f.Region, Size: f.Size, Image: f.Image, Keys: slices.Sorted(slices.Values(f.Keys))}
	if tags := splitTags(f.Tags); len(tags) > 0 {
		slices.Sort(tags)
		sp.Tags = slices.Compact(tags)
	}
	return sp
}

// splitTags splits the tags field at spaces and commas.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// query is sp as the create form's fields, for the confirmation's address
// and the way back to the form.
func (sp dropletSpec) query() string {
	q := url.Values{}
	for _, kv := range [...][2]string{{"name", sp.Name}, {"region", sp.Region}, {"size", sp.Size}, {"image", sp.Image}, {"tags", strings.Join(sp.Tags, " ")}} {
		if kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	for _, k := range sp.Keys {
		q.Add("ssh_keys", strconv.Itoa(k))
	}
	return q.Encode()
}

// hidden is sp as the hidden fields of a form that carries it on.
func (sp dropletSpec) hidden() []hiddenField {
	fields := []hiddenField{{"name", sp.Name}, {"region", sp.Region}, {"size", sp.Size}, {"image", sp.Image}}
	for _, k := range sp.Keys {
		fields = append(fields, hiddenField{"ssh_keys", strconv.Itoa(k)})
	}
	if len(sp.Tags) > 0 {
		fields = append(fields, hiddenField{"tags", strings.Join(sp.Tags, " ")})
	}
	return fields
}

// hiddenField is an <input type="hidden"> of a form.
type hiddenField struct{ Name, Value string }

// hash identifies sp: SHA-256 of its JSON (every field, in the struct's
// order), in 32 hex digits.
func (sp dropletSpec) hash() string {
	b, _ := json.Marshal(sp) // strings, ints and slices of them: it cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// createPurpose is what a confirmation to create sp confirms: all of it,
// so that a form changed after the confirmation was shown (another size,
// one more key) is refused.
func createPurpose(sp dropletSpec) string {
	return "create droplet " + sp.hash()
}

// request is the body of POST /v2/droplets for sp.
func (sp dropletSpec) request() *godo.DropletCreateRequest {
	req := &godo.DropletCreateRequest{Name: sp.Name, Region: sp.Region, Size: sp.Size,
		SSHKeys: []godo.DropletCreateSSHKey{}, Tags: []string{}}
	if id, err := strconv.Atoi(sp.Image); err == nil {
		req.Image.ID = id
	} else {
		req.Image.Slug = sp.Image
	}
	for _, k := range sp.Keys {
		req.SSHKeys = append(req.SSHKeys, godo.DropletCreateSSHKey{ID: k})
	}
	req.Tags = append(req.Tags, sp.Tags...)
	return req
}

// checkName says what DigitalOcean would find wrong with a droplet name:
// it must be a hostname (letters, digits, dots and dashes, neither first
// nor last a dot or a dash), at most 255 characters. "" when nothing.
func checkName(name string) string {
	switch {
	case name == "":
		return "Give the droplet a name."
	case len(name) > maxDropletName:
		return fmt.Sprintf("At most %d characters; this name has %d.", maxDropletName, len(name))
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-')
	}); i >= 0 {
		r := []rune(name[i:])[0]
		what := strconv.QuoteRune(r)
		if unicode.IsSpace(r) {
			what = "a space"
		}
		return "Only letters (a-z, A-Z), digits, dots and dashes, as in a hostname: " + what + " is not allowed."
	}
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-") || strings.HasSuffix(name, ".") || strings.HasSuffix(name, "-") {
		return "A name cannot start or end with a dot or a dash."
	}
	return ""
}

// checkTags says what is wrong with the tags field: each tag as
// DigitalOcean allows tag names (letters, digits, colons, dashes and
// underscores), at most maxCreateTags of them in maxTagsText characters.
func checkTags(text string) string {
	tags := splitTags(text)
	switch {
	case len(text) > maxTagsText:
		return fmt.Sprintf("At most %d characters in all; these tags have %d.", maxTagsText, len(text))
	case len(tags) > maxCreateTags:
		return fmt.Sprintf("At most %d tags; there are %d.", maxCreateTags, len(tags))
	}
	for _, tag := range tags {
		if !validTag(tag) {
			return "Tags may hold only letters, digits, colons, dashes and underscores: " + strconv.Quote(trim(tag, 32)) + " is not a tag name."
		}
	}
	return ""
}

// catalog is what a droplet can be created from, as the API listed it for
// this account: the create form's choices.
type catalog struct {
	regions []godo.Region // the API's order, the closed ones too
	sizes   []godo.Size   // by monthly price
	images  []godo.Image  // distribution images, the API's order
	keys    []godo.Key
}

// fetchCatalog asks the API for the four lists at once, with the
// session's token, and returns them with the flow record.
func (s *Server) fetchCatalog(c echo.Context, sess *Session) (*catalog, *flow.Record, error) {
	cat := &catalog{}
	rec, err := s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) { cat.regions, err = s.do.Regions(ctx, ts); return err })
		g.Go(func() (err error) { cat.sizes, err = s.do.Sizes(ctx, ts); return err })
		g.Go(func() (err error) { cat.images, err = s.do.Images(ctx, ts); return err })
		g.Go(func() (err error) { cat.keys, err = s.do.Keys(ctx, ts); return err })
		return g.Wait()
	})
	if err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(cat.sizes, func(a, b godo.Size) int { return cmp.Compare(a.PriceMonthly, b.PriceMonthly) })
	return cat, rec, nil
}

func (cat *catalog) region(slug string) *godo.Region {
	if i := slices.IndexFunc(cat.regions, func(r godo.Region) bool { return r.Slug == slug }); i >= 0 {
		return &cat.regions[i]
	}
	return nil
}

func (cat *catalog) size(slug string) *godo.Size {
	if i := slices.IndexFunc(cat.sizes, func(z godo.Size) bool { return z.Slug == slug }); i >= 0 {
		return &cat.sizes[i]
	}
	return nil
}

func (cat *catalog) image(value string) *godo.Image {
	if i := slices.IndexFunc(cat.images, func(img godo.Image) bool { return imageValue(img) == value }); i >= 0 {
		return &cat.images[i]
	}
	return nil
}

func (cat *catalog) key(id int) *godo.Key {
	if i := slices.IndexFunc(cat.keys, func(k godo.Key) bool { return k.ID == id }); i >= 0 {
		return &cat.keys[i]
	}
	return nil
}

// imageValue is how the form names an image: its slug, or its ID for one
// without a slug.
func imageValue(img godo.Image) string {
	if img.Slug != "" {
		return img.Slug
	}
	return strconv.Itoa(img.ID)
}

// offered reports whether size z can be created in region slug.
func offered(z *godo.Size, slug string) bool {
	return z.Available && slices.Contains(z.Regions, slug)
}

// check says what is wrong with f, for each field, given what the
// account can create from. complete: f is meant to create a droplet, so
// every required field must be there; otherwise (the form shown again
// after a round trip) only what was typed is checked. Without cat, only
// the rules that need no catalogue.
func (f createForm) check(cat *catalog, complete bool) fieldErrors {
	var e fieldErrors
	if f.Name != "" || complete {
		e.Name = checkName(f.Name)
	}
	e.Tags = checkTags(f.Tags)
	if len(f.Keys) > maxCreateKeys {
		e.Keys = fmt.Sprintf("At most %d SSH keys; %d are ticked.", maxCreateKeys, len(f.Keys))
	}
	if !complete {
		return e
	}
	for _, field := range []struct {
		value string
		err   *string
		words string
	}{{f.Region, &e.Region, "Choose a region."}, {f.Size, &e.Size, "Choose a size."}, {f.Image, &e.Image, "Choose an image."}} {
		if field.value == "" {
			*field.err = field.words
		}
	}
	if cat == nil || e.Region+e.Size+e.Image != "" {
		return e
	}
	region := cat.region(f.Region)
	switch {
	case region == nil:
		e.Region = "DigitalOcean has no region " + f.Region + ": choose one of those listed."
	case !region.Available:
		e.Region = region.Name + " is closed to new droplets: choose another region."
	}
	size := cat.size(f.Size)
	switch {
	case size == nil || !size.Available:
		e.Size = "DigitalOcean no longer offers the size " + f.Size + ": choose one of those listed."
	case region != nil && region.Available && !offered(size, region.Slug):
		e.Size = "The size " + f.Size + " is not offered in " + region.Name + ": choose one of the sizes listed for it."
	}
	img := cat.image(f.Image)
	switch {
	case img == nil:
		e.Image = "This image is not among DigitalOcean's distribution images: choose one of those listed."
	case size != nil && img.MinDiskSize > size.Disk:
		e.Size = fmt.Sprintf("%s needs a disk of at least %d GB; this size has %d GB: choose a larger size.", imageName(*img), img.MinDiskSize, size.Disk)
	}
	for _, k := range f.Keys {
		if cat.key(k) == nil {
			e.Keys = "One of the ticked keys is no longer in your account: tick the keys again."
		}
	}
	return e
}

// createPage is the data of views/create.html.
type createPage struct {
	Form       createForm
	Errors     fieldErrors
	Regions    []option // the regions open to new droplets
	RegionName string   // the chosen (or first) region's, for the sizes' hint
	Sizes      []option // the sizes offered there, with their price
	Images     []imageGroup
	Keys       []option
	CanWrite   bool
	Flow       *flow.Panel
}

// imageGroup is a distribution and its images, as an <optgroup>.
type imageGroup struct {
	Distribution string
	Images       []option
}

// newCreatePage fills the form's menus from cat, with f's values chosen:
// the available regions (the first when none is chosen), that region's
// sizes by price, the distribution images grouped, the keys.
func newCreatePage(f createForm, errs fieldErrors, cat *catalog, canWrite bool) createPage {
	p := createPage{Form: f, Errors: errs, CanWrite: canWrite}
	chosen := cat.region(f.Region)
	for _, r := range cat.regions {
		if !r.Available {
			continue
		}
		if chosen == nil || !chosen.Available {
			chosen = &r
		}
		p.Regions = append(p.Regions, option{Value: r.Slug, Label: r.Name + " (" + r.Slug + ")", Selected: r.Slug == chosen.Slug})
	}
	if chosen != nil {
		p.RegionName = chosen.Name
		for _, z := range cat.sizes {
			if offered(&z, chosen.Slug) {
				p.Sizes = append(p.Sizes, option{Value: z.Slug, Label: sizeWords(z) + " · " + monthlyPrice(z) + " a month", Selected: z.Slug == f.Size})
			}
		}
	}
	for _, img := range cat.images {
		i := slices.IndexFunc(p.Images, func(g imageGroup) bool { return g.Distribution == img.Distribution })
		if i < 0 {
			p.Images = append(p.Images, imageGroup{Distribution: img.Distribution})
			i = len(p.Images) - 1
		}
		p.Images[i].Images = append(p.Images[i].Images, option{Value: imageValue(img), Label: imageName(img), Selected: imageValue(img) == f.Image})
	}
	for _, k := range cat.keys {
		p.Keys = append(p.Keys, option{Value: strconv.Itoa(k.ID), Label: k.Name, Selected: slices.Contains(f.Keys, k.ID)})
	}
	return p
}

// sizeWords describes a size: "s-1vcpu-1gb: 1 vCPU, 1 GB, 25 GB disk".
func sizeWords(z godo.Size) string {
	return fmt.Sprintf("%s: %d vCPU%s, %s, %d GB disk", z.Slug, z.Vcpus, plural(z.Vcpus), memory(z.Memory), z.Disk)
}

// imageName names an image with its distribution: "Ubuntu 24.04 (LTS) x64".
func imageName(img godo.Image) string {
	if img.Distribution != "" && !strings.HasPrefix(img.Name, img.Distribution) {
		return img.Distribution + " " + img.Name
	}
	return img.Name
}

// monthlyPrice and hourlyPrice are a size's prices in US dollars, as
// DigitalOcean states them: "$6.00" and "$0.00893".
func monthlyPrice(z godo.Size) string { return fmt.Sprintf("$%.2f", z.PriceMonthly) }

func hourlyPrice(z godo.Size) string {
	s := strings.TrimRight(fmt.Sprintf("%.5f", z.PriceHourly), "0")
	return "$" + strings.TrimSuffix(s, ".")
}

// createConfirmPage is the data of views/create-confirm.html: what will
// be created, what it costs, and the form that creates it.
type createConfirmPage struct {
	Spec    dropletSpec
	Region  string   // "New York 3 (nyc3)"
	Size    string   // sizeWords
	Image   string   // imageName
	Keys    []string // the keys' names
	Monthly string   // "$6.00"
	Hourly  string   // "$0.00893"
	Fields  []hiddenField
	Token   string
	Back    string // the form with these values
}

// handleNewDroplet serves GET /droplets/new: the create form, with the
// query's values chosen (the form's "Show sizes in this region" button
// sends it here, to list the sizes of the chosen region). Its choices
// come from the API, so they appear in the flow record; it changes
// nothing at DigitalOcean.
func (s *Server) handleNewDroplet(c echo.Context) error {
	f, sess, cat, rec, err := s.createQuery(c, "Connect your DigitalOcean account to create a droplet.")
	if err != nil {
		return err
	}
	return s.renderCreateForm(c, http.StatusOK, sess, f, f.check(cat, false), cat, rec)
}

// createQuery reads the create form from the query of a GET page, the
// session (why: what to say if there is none) and the API's lists.
func (s *Server) createQuery(c echo.Context, why string) (createForm, *Session, *catalog, *flow.Record, error) {
	f, err := parseCreateForm(c.Request().URL.Query())
	if err != nil {
		return f, nil, nil, nil, err
	}
	sess, err := s.session(c, why)
	if err != nil {
		return f, nil, nil, nil, err
	}
	cat, rec, err := s.fetchCatalog(c, sess)
	if err != nil {
		return f, nil, nil, nil, upstreamProblem(err)
	}
	return f, sess, cat, rec, nil
}

// renderCreateForm shows the create form with f's values and errs beside
// the fields, its choices from cat.
func (s *Server) renderCreateForm(c echo.Context, status int, sess *Session, f createForm, errs fieldErrors, cat *catalog, rec *flow.Record) error {
	data := newCreatePage(f, errs, cat, canWrite(sess.Scope))
	data.Flow = s.showPanel(c, rec)
	return s.render(c, status, "create", "Create a droplet", sess, data)
}

// handleCreateButtonOrConfirmation serves POST /droplets, which has two
// jobs, like the action forms' POST. Without a confirm field it is the
// create form: checked against the API's lists, shown again (422) with a
// word beside each field that is wrong, or on to the confirmation. With
// one, it is the confirmation: check and spend its one-time token, which
// must have been issued for exactly this droplet, send POST /v2/droplets
// once, and go to the droplet's page. Its fields are read from the body
// only.
func (s *Server) handleCreateButtonOrConfirmation(c echo.Context) error {
	f, err := postedCreateForm(c, "confirm")
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Your session has ended, so nothing was created. Connect again, then fill in the create form again.")
	if err != nil {
		return err
	}
	token := c.Request().PostForm.Get("confirm")
	if token == "" {
		cat, rec, err := s.fetchCatalog(c, sess)
		if err != nil {
			return formProblem(err, "/droplets/new?"+f.spec().query())
		}
		if errs := f.check(cat, true); errs.Any() {
			return s.renderCreateForm(c, http.StatusUnprocessableEntity, sess, f, errs, cat, rec)
		}
		return c.Redirect(http.StatusSeeOther, "/droplets/new/confirm?"+f.spec().query())
	}
	spec := f.spec()
	if err := s.spendConfirmation(c, token, createPurpose(spec), "create a droplet", "/droplets/new?"+spec.query()); err != nil {
		return err
	}
	if !canWrite(sess.Scope) {
		return c.Redirect(http.StatusSeeOther, "/droplets/new/confirm?"+spec.query())
	}
	var created *doclient.Created
	_, err = s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) (err error) {
		created, err = s.do.CreateDroplet(ctx, ts, spec.request(), token)
		return err
	})
	if err != nil {
		return s.createProblem(c, sess, err, spec)
	}
	d := created.Droplet
	s.log.Info("droplet created", "droplet", d.ID, "region", spec.Region, "size", spec.Size)
	s.sessions.setFlash(c.Response(), "info", "DigitalOcean accepted the request and is creating "+d.Name+". It is billed from now until you destroy it.")
	return c.Redirect(http.StatusSeeOther, "/droplets/"+strconv.Itoa(d.ID))
}

// handleCreateConfirm serves GET /droplets/new/confirm?name=...: the
// droplet the form describes, checked again against the API's lists, what
// it costs a month and an hour, and a form holding a fresh one-time token
// bound to exactly this droplet. With a read-only session it is instead
// the page that offers the step-up to read & write. It changes nothing at
// DigitalOcean.
func (s *Server) handleCreateConfirm(c echo.Context) error {
	f, sess, cat, rec, err := s.createQuery(c, "Connect your DigitalOcean account first.")
	if err != nil {
		return err
	}
	if errs := f.check(cat, true); errs.Any() {
		return s.renderCreateForm(c, http.StatusUnprocessableEntity, sess, f, errs, cat, rec)
	}
	spec := f.spec()
	size := cat.size(spec.Size)
	if !canWrite(sess.Scope) {
		return s.render(c, http.StatusOK, "stepup", "This needs read & write access", sess, createStepUp(sess, spec, *size, false))
	}
	token, err := s.issueConfirmation(c, createPurpose(spec))
	if err != nil {
		return err
	}
	data := createConfirmPage{
		Spec: spec, Region: cat.region(spec.Region).Name + " (" + spec.Region + ")", Size: sizeWords(*size), Image: imageName(*cat.image(spec.Image)),
		Monthly: monthlyPrice(*size), Hourly: hourlyPrice(*size), Fields: spec.hidden(), Token: token, Back: "/droplets/new?" + spec.query(),
	}
	for _, k := range spec.Keys {
		data.Keys = append(data.Keys, cat.key(k).Name)
	}
	return s.render(c, http.StatusOK, "create-confirm", "Create "+spec.Name+"?", sess, data)
}

// createStepUp is the step-up page for creating spec, whose size is z.
func createStepUp(sess *Session, spec dropletSpec, z godo.Size, refused bool) stepUpPage {
	p := stepUpPage{
		Verb: "create", Name: spec.Name, Action: "/droplets/new/step-up", Fields: spec.hidden(), Cancel: "/droplets/new?" + spec.query(),
		Refused: refused, Account: accountName(sess.Account), ChooseAccount: sess.ChoseAccount,
	}
	if z.Slug != "" {
		p.Cost = monthlyPrice(z) + " a month"
	}
	return p
}

// handleCreateStepUp serves POST /droplets/new/step-up: the step-up to
// read & write (see handleStepUp) for creating the droplet the form
// describes, which waits in the login cookie; after DigitalOcean's consent
// the callback shows its confirmation (it creates nothing).
func (s *Server) handleCreateStepUp(c echo.Context) error {
	f, err := postedCreateForm(c)
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Your session has ended. Connect again, then fill in the create form again.")
	if err != nil {
		return err
	}
	spec := f.spec()
	// Only a droplet that passes the form's own rules waits in the login
	// cookie: they bound its size.
	if f.check(nil, true).Any() {
		return c.Redirect(http.StatusSeeOther, "/droplets/new?"+spec.query())
	}
	return s.startStepUp(c, sess, pendingAction{Type: stepUpCreate, Create: &spec})
}

// formProblem is upstreamProblem for a failure to read the API's lists
// after the form was sent (a POST): not "Try again", which would reload
// the POST's address, but the way back to the form, which keeps what was
// chosen.
func formProblem(err error, back string) error {
	err = upstreamProblem(err)
	var p *Problem
	if errors.As(err, &p) {
		p.Retry, p.Link, p.LinkText = false, back, "Back to the form"
	}
	return err
}

// postedCreateForm reads the create form from a POST's body (never its
// query), also allowing the fields in also.
func postedCreateForm(c echo.Context, also ...string) (createForm, error) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return createForm{}, &Problem{Status: http.StatusBadRequest, Title: "This create form is not valid",
			Message: "The form could not be read. Open the create form and send it again.", Err: err}
	}
	return parseCreateForm(r.PostForm, also...)
}

// createProblem says, in words, why the droplet was not created, or that
// it may have been. Nothing here creates again by itself, and nothing
// offers "Try again": a second POST could create a second droplet.
func (s *Server) createProblem(c echo.Context, sess *Session, err error, spec dropletSpec) error {
	back := "/droplets/new?" + spec.query()
	var signedOut *errSignedOut
	if errors.As(err, &signedOut) {
		signedOut.why += ", so nothing was created"
		return signedOut
	}
	if refused, ok := doclient.IsUnprocessable(err); ok {
		says := "DigitalOcean refused to create it."
		if refused.Message != "" {
			says = "DigitalOcean says: “" + trim(refused.Message, 200) + "”."
		}
		return &Problem{Status: http.StatusUnprocessableEntity, Title: "DigitalOcean did not create the droplet",
			Message: says + " Nothing was created. " + whatToChange(refused.Message) + " The form keeps what you chose.",
			Link:    back, LinkText: "Back to the form", Err: err}
	}
	if doclient.IsForbidden(err) {
		// The session's scope looked sufficient, but DigitalOcean says the
		// token may not create droplets: offer the step-up.
		return s.render(c, http.StatusForbidden, "stepup", "This needs read & write access", sess, createStepUp(sess, spec, godo.Size{}, true))
	}
	if after, ok := doclient.IsRateLimited(err); ok {
		return busyProblem(err, after, s.now(), "refused the request before creating anything: nothing was created (the form keeps what you chose)", back, "Back to the form")
	}
	check := "/digitalocean?" + url.Values{"name": {spec.Name}}.Encode()
	maybe := " The droplet may or may not have been created. Do not send the form again before you look: your droplet list, filtered by the name " + spec.Name + ", shows whether it was (a created droplet is billed until you destroy it)."
	if doclient.IsMalformed(err) {
		return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean did not say which droplet it created",
			Message: "DigitalOcean accepted the request, but its answer did not name the droplet, so the app cannot follow it." + maybe,
			Link:    check, LinkText: "Look for " + spec.Name, Err: err}
	}
	if doclient.IsTimeout(err) {
		return &Problem{Status: http.StatusGatewayTimeout, Title: "DigitalOcean took too long",
			Message: "DigitalOcean did not answer in time." + maybe, Link: check, LinkText: "Look for " + spec.Name, Err: err}
	}
	return &Problem{Status: http.StatusBadGateway, Title: "DigitalOcean did not confirm the droplet",
		Message: "DigitalOcean answered with an error instead of confirming." + maybe, Link: check, LinkText: "Look for " + spec.Name, Err: err}
}

// whatToChange reads DigitalOcean's 422 message for the field it is about,
// and says what to change in the form; a message it does not recognise
// gets a general word.
func whatToChange(message string) string {
	m := strings.ToLower(message)
	switch {
	case strings.Contains(m, "limit"):
		return "The account has as many droplets as DigitalOcean allows it: destroy one you no longer need, or ask DigitalOcean to raise the limit."
	case strings.Contains(m, "size"):
		return "Choose another size (the form lists those offered in the region), or another region."
	case strings.Contains(m, "image"):
		return "Choose another image."
	case strings.Contains(m, "region"):
		return "Choose another region."
	case strings.Contains(m, "hostname"), strings.Contains(m, "name"):
		return "Change the name."
	case strings.Contains(m, "key"):
		return "Untick the SSH keys, or tick others."
	case strings.Contains(m, "tag"):
		return "Change the tags."
	}
	return "Change what it names in the form."
}

// refreshEvery makes the droplet page reload itself while the droplet is
// being created, so that it follows it to "active" (and its IP address)
// without JavaScript.
func (p dropletPage) refreshEvery() int {
	if p.Droplet.Status == "new" {
		return 2
	}
	return 0
}
