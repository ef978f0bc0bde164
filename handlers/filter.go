package handlers

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// rowsPerPage is how many droplets one page of the table shows: a large
// account's page stays quick to render and to read, while the counts and
// filters still cover every droplet.
const rowsPerPage = 100

// Limits on the droplet page's query: DigitalOcean's own (tag names of at
// most 255 characters; region slugs like "nyc3"), and what a name filter
// can sensibly be.
const (
	maxNameFilter = 255
	maxTagLength  = 255
	maxRegionSlug = 32
	maxTablePage  = 1 << 20
)

// dropletStatuses are the statuses the API gives a droplet, in the order the
// page counts them.
func dropletStatuses() []string { return []string{"active", "new", "off", "archive"} }

// dropletParams are the names the filter form sends.
func dropletParams() []string {
	return []string{"name", "tag", "region", "status", "sort", "dir", "page"}
}

// dropletSorts are the columns the table can be sorted by.
func dropletSorts() []option {
	return []option{{Value: "name", Label: "Name"}, {Value: "created", Label: "Created"}, {Value: "status", Label: "Status"}, {Value: "region", Label: "Region"}, {Value: "size", Label: "Size"}}
}

// dropletQuery is the droplet page's query: what to filter on, how to sort
// and which page of the table to show. The zero value shows every droplet by
// name. It lives in the URL, so a view can be bookmarked and shared.
type dropletQuery struct {
	Name   string // part of the name, any case
	Tag    string // exact tag; the API filters on it (tag_name)
	Region string // region slug, e.g. "nyc3"
	Status string // one of dropletStatuses
	Sort   string // one of dropletSorts; "" means name
	Desc   bool   // dir=desc
	Page   int    // 1-based; 0 means 1
}

// parseDropletQuery reads the filter form's parameters. Empty values mean
// "any". Anything else it does not expect (an unknown parameter, one given
// twice, a status or sort it does not know, a value too long or with
// control characters) is a 400 that says which one and why: never a 500,
// and never a silently different view than the URL asks for.
func parseDropletQuery(q url.Values) (dropletQuery, error) {
	bad := func(what string) error {
		return &Problem{Status: http.StatusBadRequest, Title: "These droplet filters are not valid",
			Message: "The page address has " + what + ". Use the filter form on the droplet page, or clear the filters.",
			Link:    "/digitalocean", LinkText: "Clear the filters"}
	}
	var dq dropletQuery
	for key, values := range q {
		// Only known names are ever quoted back, so a crafted URL cannot
		// put words of its choosing on this site's page.
		if !slices.Contains(dropletParams(), key) {
			return dq, bad("an unknown parameter (the filters are name, tag, region, status, sort, dir and page)")
		}
		if len(values) > 1 {
			return dq, bad("the parameter " + strconv.Quote(key) + " more than once")
		}
		v := strings.TrimSpace(values[0])
		if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return dq, bad("a control character in " + strconv.Quote(key))
		}
		switch key {
		case "name":
			if utf8.RuneCountInString(v) > maxNameFilter {
				return dq, bad("a name filter longer than 255 characters")
			}
			dq.Name = v
		case "tag":
			if len(v) > maxTagLength || !validTag(v) {
				return dq, bad("a tag that is not a DigitalOcean tag name (letters, digits, '-', '_' and ':', at most 255)")
			}
			dq.Tag = v
		case "region":
			if len(v) > maxRegionSlug || strings.ContainsFunc(v, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') }) {
				return dq, bad("a region that is not a region slug such as nyc3")
			}
			dq.Region = v
		case "status":
			if v != "" && !slices.Contains(dropletStatuses(), v) {
				return dq, bad("a status other than active, new, off or archive")
			}
			dq.Status = v
		case "sort":
			if v != "" && !slices.ContainsFunc(dropletSorts(), func(o option) bool { return o.Value == v }) {
				return dq, bad("a sort other than name, created, status, region or size")
			}
			dq.Sort = v
		case "dir":
			if v != "" && v != "asc" && v != "desc" {
				return dq, bad("a sort direction other than asc or desc")
			}
			dq.Desc = v == "desc"
		case "page":
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTablePage {
				return dq, bad("a page number that is not a positive whole number")
			}
			dq.Page = n
		}
	}
	return dq, nil
}

// validTag reports whether s may be a DigitalOcean tag name ("" is any tag).
func validTag(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == ':')
	})
}

// Values is the query that shows q, page included; the defaults are left
// out, so URLs stay short.
func (q dropletQuery) Values() url.Values {
	v := url.Values{}
	for _, kv := range [...][2]string{{"name", q.Name}, {"tag", q.Tag}, {"region", q.Region}, {"status", q.Status}, {"sort", q.Sort}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if q.Desc {
		v.Set("dir", "desc")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// URL is the droplet page's address for q.
func (q dropletQuery) URL() string {
	if v := q.Values(); len(v) > 0 {
		return "/digitalocean?" + v.Encode()
	}
	return "/digitalocean"
}

// Filtered reports whether any filter is set (the sort does not count).
func (q dropletQuery) Filtered() bool {
	return q.Name != "" || q.Tag != "" || q.Region != "" || q.Status != ""
}

// option is a <select> choice. Every option is sent with its value
// attribute, even where it repeats the label: a label is sent with its
// spaces trimmed.
type option struct {
	Value, Label string
	Selected     bool
}

// matches reports whether row passes q's filters other than the tag, which
// the API applied already (and is checked again here, for safety).
func (q dropletQuery) matches(row *dropletRow) bool {
	return q.matchesBesidesStatus(row) && (q.Status == "" || row.Status == q.Status)
}

// matchesBesidesStatus is matches without the status filter: the droplets
// the status counts count.
func (q dropletQuery) matchesBesidesStatus(row *dropletRow) bool {
	return (q.Name == "" || containsFold(row.Name, q.Name)) &&
		(q.Tag == "" || slices.Contains(row.Tags, q.Tag)) &&
		(q.Region == "" || row.regionSlug == q.Region)
}

// containsFold is strings.Contains ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// compare orders two rows by q's sort; ties go by name (naturally, see
// naturalCompare, then byte by byte), then by creation, so the order is the
// same on every view.
func (q dropletQuery) compare(a, b *dropletRow) int {
	var c int
	switch q.Sort {
	case "created":
		c = a.Created.Compare(b.Created)
	case "status":
		c = cmp.Compare(statusRank(a.Status), statusRank(b.Status))
	case "region":
		c = naturalCompare(a.Region, b.Region)
	case "size":
		c = cmp.Or(cmp.Compare(a.memory, b.memory), cmp.Compare(a.vcpus, b.vcpus), cmp.Compare(a.disk, b.disk))
	}
	if c == 0 {
		c = cmp.Or(naturalCompare(a.Name, b.Name), strings.Compare(a.Name, b.Name), a.Created.Compare(b.Created))
	}
	if q.Desc {
		return -c
	}
	return c
}

// naturalCompare orders names as people read them, and as DigitalOcean's
// control panel lists droplets: case aside, and each run of digits by the
// number it spells, so db-replica-2 comes before db-replica-12 and
// db-replica-102. Runs of any length compare without overflow. Names that
// differ only in case or in leading zeros (web-02, Web-2) are equal here:
// the caller breaks the tie, so that the order is total.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			var na, nb string
			na, a = digitRun(a)
			nb, b = digitRun(b)
			// Without leading zeros, a longer run is a larger number.
			na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := cmp.Or(cmp.Compare(len(na), len(nb)), strings.Compare(na, nb)); c != 0 {
				return c
			}
			continue
		}
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if c := cmp.Compare(unicode.ToLower(ra), unicode.ToLower(rb)); c != 0 {
			return c
		}
		a, b = a[sa:], b[sb:]
	}
	return cmp.Compare(len(a), len(b)) // a name before the longer ones it begins
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digitRun splits s, which starts with a digit, after its leading digits.
func digitRun(s string) (digits, rest string) {
	i := 1
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// statusRank orders statuses as the page counts them; unknown ones last.
func statusRank(status string) int {
	if i := slices.Index(dropletStatuses(), status); i >= 0 {
		return i
	}
	return len(dropletStatuses())
}

// newDropletsPage filters, counts, sorts and pages rows (every listed
// droplet) for the template. A page number past the end shows the last page:
// droplets may have been deleted since the link was made.
//
// The status counts count the droplets the other filters match, not the
// whole account: each count is then what its link shows, and without a
// status filter they add up to the droplets shown.
func newDropletsPage(rows []dropletRow, q dropletQuery, access string) dropletsPage {
	p := dropletsPage{Query: q, Total: len(rows), Access: access}

	counts := map[string]int{}
	regions := map[string]string{}
	tags := map[string]bool{}
	var matching []*dropletRow
	for i := range rows {
		r := &rows[i]
		if r.regionSlug != "" {
			regions[r.regionSlug] = r.Region
		}
		for _, t := range r.Tags {
			tags[t] = true
		}
		if q.matchesBesidesStatus(r) {
			counts[r.Status]++
			if q.matches(r) {
				matching = append(matching, r)
			}
		}
	}
	for _, st := range dropletStatuses() {
		if counts[st] > 0 || st == q.Status {
			link := q
			link.Status, link.Page = st, 0
			p.Statuses = append(p.Statuses, statusCount{Status: st, Count: counts[st], URL: link.URL(), Current: st == q.Status})
		}
	}
	if q.Status != "" {
		anyStatus := q
		anyStatus.Status, anyStatus.Page = "", 0
		p.AnyStatusURL = anyStatus.URL()
	}
	if q.Region != "" && regions[q.Region] == "" {
		regions[q.Region] = q.Region // keep the chosen one selectable
	}
	var regionOpts []option
	for slug, name := range regions {
		regionOpts = append(regionOpts, option{Value: slug, Label: cmp.Or(name, slug), Selected: slug == q.Region})
	}
	slices.SortFunc(regionOpts, func(a, b option) int {
		return cmp.Or(naturalCompare(a.Label, b.Label), strings.Compare(a.Label, b.Label))
	})
	p.Regions = regionOpts
	sorts := dropletSorts()
	for i := range sorts {
		sorts[i].Selected = sorts[i].Value == cmp.Or(q.Sort, "name")
	}
	p.Sorts = sorts
	for _, st := range dropletStatuses() {
		p.Status = append(p.Status, option{Value: st, Label: st, Selected: st == q.Status})
	}
	for t := range tags {
		p.Tags = append(p.Tags, t)
	}
	slices.Sort(p.Tags)

	slices.SortStableFunc(matching, q.compare)
	p.Matching = len(matching)
	p.Pages = max((len(matching)+rowsPerPage-1)/rowsPerPage, 1)
	p.Page = min(max(q.Page, 1), p.Pages)
	from := (p.Page - 1) * rowsPerPage
	p.Droplets = matching[from:min(from+rowsPerPage, len(matching))]
	for _, r := range p.Droplets {
		r.formatCells()
	}
	p.First = from + 1
	if p.Page > 1 {
		prev := q
		prev.Page = p.Page - 1
		p.PrevURL = prev.URL()
	}
	if p.Page < p.Pages {
		next := q
		next.Page = p.Page + 1
		p.NextURL = next.URL()
	}
	return p
}

// Last is the 1-based number of the last row shown.
func (p dropletsPage) Last() int { return p.First + len(p.Droplets) - 1 }

// Showing says which droplets the table shows, naming the total once:
// "Showing 14 of 1000" on one page of the table, "Showing 1–100 of 1000"
// on several, and "Showing 1–100 of 781 matching, out of 1000" when the
// filters leave several pages of a larger list.
func (p dropletsPage) Showing() string {
	switch {
	case p.Pages <= 1:
		return fmt.Sprintf("Showing %d of %d", p.Matching, p.Total)
	case p.Matching == p.Total:
		return fmt.Sprintf("Showing %d–%d of %d", p.First, p.Last(), p.Total)
	}
	return fmt.Sprintf("Showing %d–%d of %d matching, out of %d", p.First, p.Last(), p.Matching, p.Total)
}
