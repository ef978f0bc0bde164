package sandbox

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The catalogue is what an account can create droplets from: DigitalOcean's
// regions, sizes and public images (shared by every account), plus each
// account's own snapshot and SSH keys. Like the generated droplets it is
// fixed, the same in every run, and read-only once built, so the droplets
// point into it instead of copying it. It is shaped like DigitalOcean's,
// with the awkward parts a client must handle: a region closed to new
// droplets, sizes offered only in some regions, a retired size, images
// in several versions per distribution, a snapshot kept in two regions
// only and too big for the smallest sizes.

// offerings are the regions, sizes and public images of every account.
type offerings struct {
	regions       []*regionJSON // every region, the unavailable one too
	available     []*regionJSON // the regions open to new droplets, in the same order
	sizes         []*sizeJSON   // by price, the retired one too
	distributions []*imageJSON  // public base images, by distribution then newest first
	applications  []*imageJSON  // public 1-Click (Marketplace) images
}

// sshKeyJSON is DigitalOcean's SSH key object (components.schemas.sshKeys).
type sshKeyJSON struct {
	ID          int    `json:"id"`
	Fingerprint string `json:"fingerprint"`
	PublicKey   string `json:"public_key"`
	Name        string `json:"name"`
}

// newOfferings builds the shared catalogue.
func newOfferings() *offerings {
	o := &offerings{}
	features := []string{"backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"}
	// The available regions, in this order, are also the regions the
	// generated droplets are spread over (data.go): inserting one in the
	// middle moves every generated droplet. nyc2 is closed to new droplets,
	// as DigitalOcean's nyc2 is: it is listed, "available": false, with no
	// sizes, and creating there is refused.
	for _, r := range []struct {
		slug, name string
		available  bool
	}{
		{"nyc1", "New York 1", true},
		{"nyc2", "New York 2", false},
		{"nyc3", "New York 3", true},
		{"sfo3", "San Francisco 3", true},
		{"ams3", "Amsterdam 3", true},
		{"fra1", "Frankfurt 1", true},
		{"lon1", "London 1", true},
		{"sgp1", "Singapore 1", true},
		{"tor1", "Toronto 1", true},
		{"blr1", "Bangalore 1", true},
		{"syd1", "Sydney 1", true},
	} {
		region := &regionJSON{Name: r.name, Slug: r.slug, Features: features, Available: r.available, Sizes: []string{}}
		o.regions = append(o.regions, region)
		if r.available {
			o.available = append(o.available, region)
		}
	}
	everywhere := o.availableSlugs()

	// Sizes with DigitalOcean's published resources and prices; the hourly
	// price is the monthly one over 672 hours, as DigitalOcean bills. The
	// sizes the generated droplets use are offered in every open region;
	// some larger ones only in a few, and s-1vcpu-3gb is retired: listed,
	// "available": false, in no region.
	for _, z := range []struct {
		slug        string
		vcpus       int
		memoryMB    int
		diskGB      int
		transferTB  float64
		monthly     float64
		description string
		regions     []string // nil: every open region
		retired     bool
	}{
		{"s-1vcpu-512mb-10gb", 1, 512, 10, 0.5, 4, "Basic", []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "tor1"}, false},
		{"s-1vcpu-1gb", 1, 1024, 25, 1, 6, "Basic", nil, false},
		{"s-1vcpu-2gb", 1, 2048, 50, 2, 12, "Basic", nil, false},
		{"s-1vcpu-3gb", 1, 3072, 60, 3, 15, "Basic", nil, true},
		{"s-2vcpu-2gb", 2, 2048, 60, 3, 18, "Basic", nil, false},
		{"s-2vcpu-4gb", 2, 4096, 80, 4, 24, "Basic", nil, false},
		{"c-2", 2, 4096, 25, 4, 42, "CPU-Optimized", nil, false},
		{"s-4vcpu-8gb", 4, 8192, 160, 5, 48, "Basic", nil, false},
		{"g-2vcpu-8gb", 2, 8192, 25, 4, 63, "General Purpose", nil, false},
		{"c-4", 4, 8192, 50, 5, 84, "CPU-Optimized", nil, false},
		{"m-2vcpu-16gb", 2, 16384, 50, 4, 84, "Memory-Optimized", nil, false},
		{"s-8vcpu-16gb", 8, 16384, 320, 6, 96, "Basic", []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1"}, false},
		{"g-4vcpu-16gb", 4, 16384, 50, 5, 126, "General Purpose", []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "tor1"}, false},
		{"so-2vcpu-16gb", 2, 16384, 300, 4, 131, "Storage-Optimized", []string{"nyc3", "sfo3", "ams3", "fra1", "lon1", "tor1"}, false},
		{"c-8", 8, 16384, 100, 6, 168, "CPU-Optimized", []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1"}, false},
		{"m-4vcpu-32gb", 4, 32768, 100, 6, 168, "Memory-Optimized", []string{"nyc3", "sfo3", "ams3", "fra1", "lon1"}, false},
	} {
		size := &sizeJSON{
			Slug:         z.slug,
			Memory:       z.memoryMB,
			VCPUs:        z.vcpus,
			Disk:         z.diskGB,
			Transfer:     z.transferTB,
			PriceMonthly: z.monthly,
			PriceHourly:  z.monthly / 672,
			Regions:      z.regions,
			Available:    !z.retired,
			Description:  z.description,
			DiskInfo:     []diskInfoJSON{localDisk(z.diskGB)},
		}
		switch {
		case z.retired:
			size.Regions = []string{}
		case z.regions == nil:
			size.Regions = everywhere
		}
		o.sizes = append(o.sizes, size)
		for _, slug := range size.Regions {
			r := o.region(slug)
			r.Sizes = append(r.Sizes, size.Slug)
		}
	}

	image := func(id int, name, distro, slug, created string, minDisk int, gb float64) *imageJSON {
		return &imageJSON{
			ID: id, Name: name, Type: "base", Distribution: distro, Slug: &slug,
			Public: true, Regions: everywhere, CreatedAt: created,
			MinDiskSize: minDisk, SizeGigabytes: gb, Description: distro + " " + name,
			Tags: []string{}, Status: "available",
		}
	}
	o.distributions = []*imageJSON{
		image(160_232_537, "24.04 (LTS) x64", "Ubuntu", "ubuntu-24-04-x64", "2024-07-22T16:10:52Z", 7, 2.44),
		image(129_211_873, "22.04 (LTS) x64", "Ubuntu", "ubuntu-22-04-x64", "2023-03-28T15:02:17Z", 7, 2.07),
		image(155_011_287, "12 x64", "Debian", "debian-12-x64", "2024-04-30T14:08:29Z", 7, 1.02),
		image(133_911_028, "11 x64", "Debian", "debian-11-x64", "2023-06-19T10:41:55Z", 7, 0.96),
		image(170_115_341, "41 x64", "Fedora", "fedora-41-x64", "2024-11-04T18:26:40Z", 7, 1.52),
		image(156_980_432, "40 x64", "Fedora", "fedora-40-x64", "2024-05-22T19:32:11Z", 7, 1.34),
		image(157_813_602, "9 x64", "Rocky Linux", "rockylinux-9-x64", "2024-06-03T12:55:08Z", 10, 1.81),
		image(146_503_990, "8 x64", "Rocky Linux", "rockylinux-8-x64", "2023-12-11T09:17:36Z", 10, 1.65),
		image(158_300_519, "Stream 9 x64", "CentOS", "centos-stream-9-x64", "2024-06-17T08:03:44Z", 10, 1.39),
	}
	// Marketplace 1-Click images are public snapshots.
	app := func(id int, name, slug, created string, minDisk int, gb float64) *imageJSON {
		img := image(id, name, "Ubuntu", slug, created, minDisk, gb)
		img.Type = "snapshot"
		img.Description = name + " (Marketplace)"
		return img
	}
	o.applications = []*imageJSON{
		app(162_411_206, "Docker on Ubuntu 22.04", "docker-22-04", "2024-08-19T11:47:03Z", 15, 4.12),
		app(163_059_944, "WordPress on Ubuntu 22.04", "wordpress-22-04", "2024-09-02T13:20:51Z", 25, 4.9),
	}
	return o
}

// availableSlugs returns the slugs of the regions open to new droplets.
func (o *offerings) availableSlugs() []string {
	slugs := make([]string, len(o.available))
	for k, r := range o.available {
		slugs[k] = r.Slug
	}
	return slugs
}

// region returns the region with that slug, or nil.
func (o *offerings) region(slug string) *regionJSON {
	i := slices.IndexFunc(o.regions, func(r *regionJSON) bool { return r.Slug == slug })
	if i < 0 {
		return nil
	}
	return o.regions[i]
}

// size returns the size with that slug, or nil.
func (o *offerings) size(slug string) *sizeJSON {
	i := slices.IndexFunc(o.sizes, func(z *sizeJSON) bool { return z.Slug == slug })
	if i < 0 {
		return nil
	}
	return o.sizes[i]
}

// publicImage returns the first public image match accepts, or nil.
func (o *offerings) publicImage(match func(*imageJSON) bool) *imageJSON {
	for _, list := range [][]*imageJSON{o.distributions, o.applications} {
		if i := slices.IndexFunc(list, match); i >= 0 {
			return list[i]
		}
	}
	return nil
}

// snapshot returns a private snapshot of one of the account's droplets,
// kept in regions only, which only that account can list or create from.
// A snapshot has no slug, as at DigitalOcean.
func snapshot(id int, name string, from *sizeJSON, created string, regions ...string) *imageJSON {
	return &imageJSON{
		ID: id, Name: name, Type: "snapshot", Distribution: "Ubuntu",
		Regions: regions, CreatedAt: created,
		MinDiskSize: from.Disk, SizeGigabytes: 6.73, Description: "",
		Tags: []string{}, Status: "available",
	}
}

// sshKey returns an SSH key made up from its comment: an Ed25519 public key in
// authorized_keys form and its MD5 fingerprint, computed as DigitalOcean
// and ssh-keygen -E md5 compute it, from the key's wire encoding. Nobody
// holds the private key: the key is well-formed, not usable.
func sshKey(id int, name, comment string) sshKeyJSON {
	point := sha256.Sum256([]byte("sandbox:ssh:" + comment))
	blob := sshString(nil, []byte("ssh-ed25519"))
	blob = sshString(blob, point[:])
	sum := md5.Sum(blob)
	fp := make([]string, len(sum))
	for k, b := range sum {
		fp[k] = fmt.Sprintf("%02x", b)
	}
	return sshKeyJSON{
		ID:          id,
		Fingerprint: strings.Join(fp, ":"),
		PublicKey:   "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment,
		Name:        name,
	}
}

// sshString appends b as an SSH wire-format string (RFC 4251 §5).
func sshString(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// key returns the account's SSH key with that ID or fingerprint, or false.
func (c *catalog) key(id int, fingerprint string) (sshKeyJSON, bool) {
	i := slices.IndexFunc(c.keys, func(k sshKeyJSON) bool {
		return (fingerprint == "" && k.ID == id) || (fingerprint != "" && k.Fingerprint == fingerprint)
	})
	if i < 0 {
		return sshKeyJSON{}, false
	}
	return c.keys[i], true
}

// image returns the public or own private image with that ID, or nil.
func (c *catalog) image(id int) *imageJSON {
	byID := func(img *imageJSON) bool { return img.ID == id }
	if img := c.offer.publicImage(byID); img != nil {
		return img
	}
	if i := slices.IndexFunc(c.private, byID); i >= 0 {
		return c.private[i]
	}
	return nil
}

// List bodies (components.responses.all_regions, all_sizes, all_images,
// sshKeys_all).
type (
	regionsPage struct {
		Regions []*regionJSON `json:"regions"`
		Links   linksJSON     `json:"links"`
		Meta    metaJSON      `json:"meta"`
	}
	sizesPage struct {
		Sizes []*sizeJSON `json:"sizes"`
		Links linksJSON   `json:"links"`
		Meta  metaJSON    `json:"meta"`
	}
	imagesPage struct {
		Images []*imageJSON `json:"images"`
		Links  linksJSON    `json:"links"`
		Meta   metaJSON     `json:"meta"`
	}
	keysPage struct {
		SSHKeys []sshKeyJSON `json:"ssh_keys"`
		Links   linksJSON    `json:"links"`
		Meta    metaJSON     `json:"meta"`
	}
)

// listPage returns page `page` (from 1) of perPage items of all ([] past
// the end), with the links and meta of a list body.
func listPage[T any](r *http.Request, all []T, page, perPage int) ([]T, linksJSON, metaJSON) {
	items := []T{}
	if page-1 <= len(all)/perPage { // also keeps the product from overflowing
		start := (page - 1) * perPage
		items = append(items, all[min(start, len(all)):min(start+perPage, len(all))]...)
	}
	return items, pageLinks(r, page, perPage, len(all)), metaJSON{Total: len(all)}
}

// handleRegions serves GET /v2/regions: every region, paginated, the one
// closed to new droplets included ("available": false).
func (s *Server) handleRegions(w http.ResponseWriter, r *http.Request, acct *accountState) {
	page, perPage, ok := s.paging(w, r.URL.Query())
	if !ok {
		return
	}
	var body regionsPage
	body.Regions, body.Links, body.Meta = listPage(r, acct.catalog.offer.regions, page, perPage)
	writeJSON(w, http.StatusOK, body)
}

// handleSizes serves GET /v2/sizes: every size, paginated, each with the
// regions where it can be created.
func (s *Server) handleSizes(w http.ResponseWriter, r *http.Request, acct *accountState) {
	page, perPage, ok := s.paging(w, r.URL.Query())
	if !ok {
		return
	}
	var body sizesPage
	body.Sizes, body.Links, body.Meta = listPage(r, acct.catalog.offer.sizes, page, perPage)
	writeJSON(w, http.StatusOK, body)
}

// handleImages serves GET /v2/images: the public distribution and 1-Click
// images and the account's own snapshot, paginated; type=distribution or
// type=application keeps the public ones of that kind, private=true the
// account's own, tag_name those with that tag.
func (s *Server) handleImages(w http.ResponseWriter, r *http.Request, acct *accountState) {
	q := r.URL.Query()
	page, perPage, ok := s.paging(w, q)
	if !ok {
		return
	}
	var private bool
	switch q.Get("private") {
	case "", "false":
	case "true":
		private = true
	default:
		writeAPIError(w, http.StatusBadRequest, "bad_request", "private must be true or false.")
		return
	}
	o := acct.catalog.offer
	var all []*imageJSON
	switch typ := q.Get("type"); {
	case private && typ != "":
		// The account's images are neither distributions nor 1-Click images.
	case private:
		all = acct.catalog.private
	case typ == "distribution":
		all = o.distributions
	case typ == "application":
		all = o.applications
	case typ == "":
		all = slices.Concat(o.distributions, o.applications, acct.catalog.private)
	default:
		writeAPIError(w, http.StatusBadRequest, "bad_request", "type must be distribution or application.")
		return
	}
	if tag := q.Get("tag_name"); tag != "" {
		all = slices.DeleteFunc(slices.Clone(all), func(img *imageJSON) bool { return !slices.Contains(img.Tags, tag) })
	}
	var body imagesPage
	body.Images, body.Links, body.Meta = listPage(r, all, page, perPage)
	writeJSON(w, http.StatusOK, body)
}

// handleKeys serves GET /v2/account/keys: the account's SSH keys.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request, acct *accountState) {
	page, perPage, ok := s.paging(w, r.URL.Query())
	if !ok {
		return
	}
	var body keysPage
	body.SSHKeys, body.Links, body.Meta = listPage(r, acct.catalog.keys, page, perPage)
	writeJSON(w, http.StatusOK, body)
}
