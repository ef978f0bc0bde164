package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/digitalocean/godo"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"dosignin/doclient"
	"dosignin/handlers/flow"
)

// dropletsPage is the data of views/droplets.html.
type dropletsPage struct {
	Droplets []*dropletRow // the rows of this page of the table
	Query    dropletQuery  // the filters and sort in the URL, to refill the form
	Total    int           // droplets listed (with the chosen tag, if any)
	Matching int           // of those, how many pass the filters
	First    int           // 1-based number of the first row shown
	// Statuses counts the droplets the filters other than the status
	// match, by status; AnyStatusURL drops the status filter ("" without).
	Statuses     []statusCount
	AnyStatusURL string
	// Regions, Sorts and Status are the choices of the form's menus: the
	// regions the listed droplets are in, the sort and status choices.
	Regions, Sorts, Status []option
	Tags                   []string // the tags the listed droplets have
	Page                   int      // this page of the table, 1-based
	Pages                  int
	PrevURL                string // "" on the first page
	NextURL                string // "" on the last page

	Access string            // what the token may do, in words
	Token  *flow.TokenStatus // expiry, refreshes and Refresh now
	Flow   *flow.Panel       // "How this worked"; nil without a record
}

// pager is the data of the "pager" template: links to the table's other
// pages, under a label of their own (the list has them above and below
// the table).
type pager struct {
	Label            string
	Page, Pages      int
	PrevURL, NextURL string
}

// Pager returns the page links of the table, labelled label.
func (p dropletsPage) Pager(label string) pager {
	return pager{Label: label, Page: p.Page, Pages: p.Pages, PrevURL: p.PrevURL, NextURL: p.NextURL}
}

// statusCount is how many of the droplets the other filters match have a
// status, with a link that filters on it (Current: the filter is on).
type statusCount struct {
	Status  string
	Count   int
	URL     string
	Current bool
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
	Actions    []actionInfo // the power actions its status allows (actionsFor)

	// The shown rows' cells that need more than the value: the size with
	// no break inside a part (a non-breaking space between a number and
	// its unit), and the creation time for <time>. Formatted here, in the
	// one place the table's rows are made (see newDropletsPage), rather
	// than by template functions: html/template makes every call in a
	// row of a 100-row table a reflective call.
	SizeCell, CreatedISO, CreatedDate string

	regionSlug string
	memory     int // MB, for sorting by size
	vcpus      int
	disk       int
}

// handleDropletList serves GET /digitalocean without callback parameters:
// the droplets of the connected account, filtered, sorted and paged as the
// query says (see parseDropletQuery). This is what the flow is for: using
// the access token (refreshed first when it has expired or is about to;
// see withToken).
//
// The filters cover every droplet: the whole list is fetched (only the
// chosen tag's droplets when there is one: the API filters by tag), and the
// session remembers how many pages it had, so the next view asks for them
// all at once.
func (s *Server) handleDropletList(c echo.Context) error {
	q, err := parseDropletQuery(c.Request().URL.Query())
	if err != nil {
		return err
	}
	sess, err := s.session(c, "Connect your DigitalOcean account to see your droplets.")
	if err != nil {
		return err
	}
	opts := doclient.ListOptions{Tag: q.Tag}
	if q.Tag == "" {
		opts.PagesHint = sess.Pages
	}
	var list *doclient.DropletList
	rec, err := s.withToken(c, sess, func(ctx context.Context, ts oauth2.TokenSource) (err error) {
		list, err = s.do.Droplets(ctx, ts, opts)
		return err
	})
	if err != nil {
		return upstreamProblem(err)
	}
	s.rememberPages(c, sess, q, list.Pages)

	rows := make([]dropletRow, len(list.Droplets))
	for i, d := range list.Droplets {
		rows[i] = newDropletRow(d)
	}
	data := newDropletsPage(rows, q, accessLabel(sess.Scope))
	data.Token = flow.NewTokenStatus(accessLabel(sess.Scope), sess.Scope, sess.Expiry, sess.Refreshed, s.now())
	data.Flow = s.showPanel(c, rec)
	if list.Rate.Limit > 0 {
		data.Token.RequestsLeft = fmt.Sprintf("%d of %d this hour", list.Rate.Remaining, list.Rate.Limit)
	}
	return s.render(c, http.StatusOK, "droplets", "Your droplets", sess, data)
}

// rememberPages keeps the number of pages of the account's whole list in
// the session, so that the next view asks for every page at once. It is
// worth a cookie write only when it changes what the next view asks for
// (no hint and a hint of one page both start with page 1 alone), and not
// while a parallel request may be rotating the token (see load), unless
// this one just did; a failure only costs the next view a round trip.
func (s *Server) rememberPages(c echo.Context, sess *Session, q dropletQuery, pages int) {
	if q.Tag != "" || max(pages, 1) == max(sess.Pages, 1) || (refreshDueSoon(sess, s.now()) && !sess.rotated) {
		return
	}
	sess.Pages = pages
	if err := s.sessions.save(c.Response(), sess); err != nil {
		s.log.Warn("saving the page count in the session failed", "error", err)
	}
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
	row.Actions = actionsFor(row.Status)
	return row
}

// formatCells sets the cells of a row the table shows.
func (r *dropletRow) formatCells() {
	// "2 vCPUs · 4 GB · 80 GB disk": the line may break at a " · ", never
	// between "4" and "GB".
	parts := strings.Split(r.Size, " · ")
	for i, part := range parts {
		parts[i] = strings.ReplaceAll(part, " ", "\u00a0")
	}
	r.SizeCell = strings.Join(parts, " · ")
	if !r.Created.IsZero() {
		r.CreatedISO, r.CreatedDate = r.Created.Format(time.RFC3339), r.Created.UTC().Format("2 Jan 2006")
	}
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
