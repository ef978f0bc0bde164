package handlers

import (
	"fmt"
	"net/http"
	"time"

	"github.com/digitalocean/godo"
	"github.com/labstack/echo/v4"

	"dosignin/doclient"
)

// dropletsPage is the data of views/droplets.html.
type dropletsPage struct {
	Droplets []dropletRow
	Access   string    // what the token may do, in words
	Expiry   time.Time // when the current access token expires
	Token    *tokenStatus
	Flow     *flowPanel // "How this worked"; nil without a record
}

// dropletRow is one droplet as the page shows it.
type dropletRow struct {
	Name       string
	Status     string // active, off, new, archive: shown as text, colour only adds to it
	Region     string
	Size       string // "2 vCPUs · 4 GB · 80 GB disk"
	PublicIPv4 string
	Image      string
	Tags       []string
	Created    time.Time
}

// handleDroplets serves GET /digitalocean without callback parameters: every
// droplet of the connected account. It refreshes the access token first when
// it is expired or about to be, and saves the rotated pair into the cookie
// before the page is written.
func (s *Server) handleDroplets(c echo.Context) error {
	w, r := c.Response(), c.Request()
	sess, ok := s.sessions.load(w, r)
	if !ok {
		s.sessions.setFlash(w, r, "info", "Connect your DigitalOcean account to see your droplets.")
		return c.Redirect(http.StatusSeeOther, "/")
	}

	ctx, ft := traced(r.Context()) // for the "How this worked" panel
	ts := s.do.TokenSource(ctx, sess.Token())
	_, err := ts.Token() // refreshes now if needed, so its errors are told apart below
	var droplets []godo.Droplet
	listStart := time.Now()
	if err == nil {
		droplets, err = s.do.Droplets(ctx, ts)
	}
	took := time.Since(listStart)
	// Save a refreshed pair even if the listing failed afterwards.
	if serr := s.saveIfRefreshed(w, r, sess, ts); serr != nil {
		return serr
	}

	switch {
	case doclient.IsInvalidGrant(err):
		return s.signOut(c, "Your DigitalOcean session has ended (the grant expired or was revoked). Connect again to see your droplets.")
	case doclient.IsUnauthorized(err):
		return s.signOut(c, "DigitalOcean no longer accepts this app's access token (it may have been revoked). Connect again to see your droplets.")
	case err != nil:
		return upstreamProblem(err)
	}

	data := dropletsPage{Access: accessLabel(sess.Scope), Expiry: sess.Expiry, Droplets: make([]dropletRow, len(droplets)),
		Token: newTokenStatus(sess, s.now()), Flow: s.recordPage(w, r, ft, len(droplets), took)}
	for i, d := range droplets {
		data.Droplets[i] = newDropletRow(d)
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
	row := dropletRow{Name: d.Name, Status: d.Status, Tags: d.Tags, Size: d.SizeSlug}
	if d.Region != nil {
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
