package handlers

import (
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/digitalocean/godo"
	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// dropletsPage is the data of views/droplets.html.
type dropletsPage struct {
	Droplets []*dropletRow // the rows of this page of the table
	Query    dropletQuery  // the filters and sort in the URL, to refill the form
	Total    int           // droplets listed (with the chosen tag, if any)
	Matching int           // of those, how many pass the filters
	First    int           // 1-based number of the first row shown
	Statuses []statusCount
	// Regions, Sorts and Status are the <option>s of the form's menus (the
	// regions the listed droplets are in, the sort and status choices),
	// built by selectOptions.
	Regions, Sorts, Status template.HTML
	Tags                   []string // the tags the listed droplets have
	Page                   int      // this page of the table, 1-based
	Pages                  int
	PrevURL                string // "" on the first page
	NextURL                string // "" on the last page

	Access string       // what the token may do, in words
	Token  *tokenStatus // expiry, refreshes and Refresh now
	Flow   *flowPanel   // "How this worked"; nil without a record
	// RateLimited is true when the API said how many requests the token
	// has left this hour (RateRemaining).
	RateLimited   bool
	RateRemaining int
}

// statusCount is how many of the listed droplets have a status, with a link
// that filters on it.
type statusCount struct {
	Status string
	Count  int
	URL    string
}

// dropletRow is one droplet as the page shows it.
type dropletRow struct {
	ID         int // for the link to its page and its action buttons
	Name       string
	Status     string // active, off, new, archive: shown as text, colour only adds to it
	Region     string
	Size       string // "2 vCPUs · 4 GB · 80 GB disk"
	PublicIPv4 string
	Image      string
	Tags       []string
	Created    time.Time
	// CreatedISO and CreatedDate are Created for <time>, set for the rows
	// shown only: formatting in Go spares the template two calls a row.
	CreatedISO, CreatedDate string

	regionSlug string
	memory     int // MB, for sorting by size
	vcpus      int
	disk       int
}

// handleDroplets serves GET /digitalocean without callback parameters: the
// droplets of the connected account, filtered, sorted and paged as the
// query says (see parseDropletQuery). It refreshes the access token first
// when it is expired or about to be, and saves the rotated pair into the
// cookie before the page is written.
//
// The filters cover every droplet: the whole list is fetched (only the
// chosen tag's droplets when there is one: the API filters by tag), and the
// session remembers how many pages it had, so the next view asks for them
// all at once.
func (s *Server) handleDroplets(c echo.Context) error {
	w, r := c.Response(), c.Request()
	q, err := parseDropletQuery(r.URL.Query())
	if err != nil {
		return err
	}
	sess, ok := s.sessions.load(w, r)
	if !ok {
		s.sessions.setFlash(w, r, "info", "Connect your DigitalOcean account to see your droplets.")
		return c.Redirect(http.StatusSeeOther, "/")
	}

	ctx, ft := traced(r.Context()) // for the "How this worked" panel
	ts := s.do.TokenSource(ctx, sess.Token())
	_, err = ts.Token() // refreshes now if needed, so its errors are told apart below
	var list *doclient.DropletList
	listStart := time.Now()
	if err == nil {
		opts := doclient.ListOptions{Tag: q.Tag}
		if q.Tag == "" {
			opts.PagesHint = sess.Pages
		}
		list, err = s.do.Droplets(ctx, ts, opts)
		if _, refreshed := ts.Refreshed(); doclient.IsUnauthorized(err) && !refreshed && sess.RefreshToken != "" {
			// A parallel request may have rotated the pair after this one
			// read the cookie; see TokenSource.Renew. Once, and the
			// renewed pair is saved below like any refresh.
			if _, err = ts.Renew(); err == nil {
				list, err = s.do.Droplets(ctx, ts, opts)
			}
		}
	}
	// Worth a cookie write only when it changes what the next view asks
	// for: no hint and a hint of one page both start with page 1 alone.
	remember := err == nil && q.Tag == "" && max(list.Pages, 1) != max(sess.Pages, 1)
	if remember {
		sess.Pages = list.Pages
	}
	took := time.Since(listStart)
	// Save a refreshed pair even if the listing failed afterwards.
	if serr := s.saveIfRefreshed(w, r, sess, ts); serr != nil {
		return serr
	}
	if _, refreshed := ts.Refreshed(); remember && !refreshed && !refreshDueSoon(sess, s.now()) {
		// Not while a parallel request may be rotating the token (see
		// load). A failure only costs the next view a round trip.
		if serr := s.sessions.save(w, r, sess); serr != nil {
			s.log.Warn("saving the page count in the session failed", "error", serr)
		}
	}

	switch {
	case doclient.IsInvalidGrant(err):
		return s.signOut(c, "Your DigitalOcean session has ended (the grant expired or was revoked). Connect again to see your droplets.")
	case doclient.IsUnauthorized(err):
		return s.signOut(c, "DigitalOcean no longer accepts this app's access token (it may have been revoked). Connect again to see your droplets.")
	case err != nil:
		return upstreamProblem(err)
	}

	rows := make([]dropletRow, len(list.Droplets))
	for i, d := range list.Droplets {
		rows[i] = newDropletRow(d)
	}
	data := newDropletsPage(rows, q, accessLabel(sess.Scope))
	data.Token, data.Flow = newTokenStatus(sess, s.now()), s.recordPage(w, r, ft, len(list.Droplets), took)
	if list.Rate.Limit > 0 {
		data.RateLimited, data.RateRemaining = true, list.Rate.Remaining
	}
	return s.render(c, http.StatusOK, "droplets", "Your droplets", sess, data)
}

// signOut ends a session whose grant DigitalOcean no longer honours and
// sends the browser to the index, which shows why.
func (s *Server) signOut(c echo.Context, why string) error {
	s.sessions.end(c.Response())
	s.sessions.setFlash(c.Response(), c.Request(), "info", why)
	return c.Redirect(http.StatusSeeOther, "/")
}

// saveIfRefreshed stores the pair ts refreshed, if it did, and the time of
// this visit. It must run before anything else can fail: the old refresh
// token is spent, and losing the new one would sign the user out.
func (s *Server) saveIfRefreshed(w http.ResponseWriter, r *http.Request, sess *Session, ts *doclient.TokenSource) error {
	tok, refreshed := ts.Refreshed()
	if !refreshed {
		return nil
	}
	sess.SetToken(tok)
	sess.LastSeen, sess.Refreshed = s.now(), s.now()
	return s.sessions.save(w, r, sess)
}

func newDropletRow(d godo.Droplet) dropletRow {
	row := dropletRow{ID: d.ID, Name: d.Name, Status: d.Status, Tags: d.Tags, Size: d.SizeSlug, memory: d.Memory, vcpus: d.Vcpus, disk: d.Disk}
	if d.Region != nil {
		row.regionSlug = d.Region.Slug
		row.Region = d.Region.Name
		if row.Region == "" {
			row.Region = d.Region.Slug
		}
	}
	if d.Vcpus > 0 || d.Memory > 0 || d.Disk > 0 {
		row.Size = fmt.Sprintf("%d vCPU%s · %s · %d GB disk", d.Vcpus, plural(d.Vcpus), memory(d.Memory), d.Disk)
	}
	row.PublicIPv4, _ = d.PublicIPv4() // a droplet being created may have none yet
	if d.Image != nil {
		row.Image = d.Image.Name
		if d.Image.Distribution != "" && d.Image.Distribution != d.Image.Name {
			row.Image = d.Image.Distribution + " " + d.Image.Name
		}
	}
	row.Created, _ = time.Parse(time.RFC3339, d.Created)
	return row
}

// memory formats megabytes the way DigitalOcean's control panel does.
func memory(mb int) string {
	if mb >= 1024 && mb%1024 == 0 {
		return fmt.Sprintf("%d GB", mb/1024)
	}
	if mb >= 1024 {
		return fmt.Sprintf("%.1f GB", float64(mb)/1024)
	}
	return fmt.Sprintf("%d MB", mb)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
