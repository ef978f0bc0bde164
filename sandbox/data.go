package sandbox

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Each sandbox account's droplets are generated, not stored: droplet i is
// a pure function of i, the same in every run and for every token. A
// catalog (one per account) holds only the shared, read-only parts
// (regions, sizes, images, roles, from the catalogue in catalog.go), so
// thousands of droplets cost no memory and listing page N builds only the
// droplets on that page. What actions change, and the droplets created and
// destroyed, are kept apart, in the account's overlay (actions.go,
// provision.go).
//
// The JSON types below follow DigitalOcean's OpenAPI description
// (components.schemas.droplet and the schemas it references); fields the
// schema marks as required are never omitted, and lists are [] rather than
// null.

type dropletJSON struct {
	ID               int               `json:"id"`
	Name             string            `json:"name"`
	Memory           int               `json:"memory"` // MB
	VCPUs            int               `json:"vcpus"`
	Disk             int               `json:"disk"` // GB
	DiskInfo         []diskInfoJSON    `json:"disk_info"`
	Locked           bool              `json:"locked"`
	Status           string            `json:"status"` // new, active, off or archive
	Kernel           *struct{}         `json:"kernel"` // always null since 2017 (internal kernels)
	CreatedAt        string            `json:"created_at"`
	Features         []string          `json:"features"`
	BackupIDs        []int             `json:"backup_ids"`
	NextBackupWindow *backupWindowJSON `json:"next_backup_window"` // see droplet
	SnapshotIDs      []int             `json:"snapshot_ids"`
	Image            *imageJSON        `json:"image"`
	VolumeIDs        []string          `json:"volume_ids"`
	Size             *sizeJSON         `json:"size"`
	SizeSlug         string            `json:"size_slug"`
	Networks         networksJSON      `json:"networks"`
	Region           *regionJSON       `json:"region"`
	Tags             []string          `json:"tags"`
	VPCUUID          string            `json:"vpc_uuid"`
}

type diskInfoJSON struct {
	Type string `json:"type"`
	Size struct {
		Amount int    `json:"amount"`
		Unit   string `json:"unit"`
	} `json:"size"`
}

type backupWindowJSON struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type networksJSON struct {
	V4 []networkV4JSON `json:"v4"`
	V6 []networkV6JSON `json:"v6"`
}

type networkV4JSON struct {
	IPAddress string `json:"ip_address"`
	Netmask   string `json:"netmask"`
	Gateway   string `json:"gateway,omitempty"` // private interfaces have none
	Type      string `json:"type"`
}

type networkV6JSON struct {
	IPAddress string `json:"ip_address"`
	Netmask   int    `json:"netmask"`
	Gateway   string `json:"gateway"`
	Type      string `json:"type"`
}

type regionJSON struct {
	Name      string   `json:"name"`
	Slug      string   `json:"slug"`
	Features  []string `json:"features"`
	Available bool     `json:"available"`
	Sizes     []string `json:"sizes"`
}

type sizeJSON struct {
	Slug         string         `json:"slug"`
	Memory       int            `json:"memory"`
	VCPUs        int            `json:"vcpus"`
	Disk         int            `json:"disk"`
	Transfer     float64        `json:"transfer"` // TB per month
	PriceMonthly float64        `json:"price_monthly"`
	PriceHourly  float64        `json:"price_hourly"`
	Regions      []string       `json:"regions"`
	Available    bool           `json:"available"`
	Description  string         `json:"description"`
	DiskInfo     []diskInfoJSON `json:"disk_info"`
}

type imageJSON struct {
	ID            int      `json:"id"`
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Distribution  string   `json:"distribution"`
	Slug          *string  `json:"slug"` // null for snapshots
	Public        bool     `json:"public"`
	Regions       []string `json:"regions"`
	CreatedAt     string   `json:"created_at"`
	MinDiskSize   int      `json:"min_disk_size"`
	SizeGigabytes float64  `json:"size_gigabytes"`
	Description   string   `json:"description"`
	Tags          []string `json:"tags"`
	Status        string   `json:"status"`
	ErrorMessage  string   `json:"error_message"`
}

// role is a kind of droplet in the sandbox account: droplet i has role
// i mod len(roles), and its name numbers it within the role.
type role struct {
	name     string // name prefix, e.g. "web" for web-01, web-02, ...
	tags     []string
	size     *sizeJSON
	image    *imageJSON
	backups  bool
	ipv6     bool
	off      bool     // always powered off (a forgotten dev box)
	features []string // derived from backups and ipv6
}

type catalog struct {
	offer   *offerings   // the regions, sizes and public images of every account
	private []*imageJSON // the account's own snapshots
	keys    []sshKeyJSON // the account's SSH keys
	count   int
	firstID int // ID of droplet 0; droplet i has ID firstID + 37*i
	shift   int // droplet i has role (i+shift) mod len(roles)
	netBase int // added to i when deriving addresses and backup IDs, so accounts don't share them
	roles   []role
	regions []*regionJSON // where droplets are spread: the open regions
	vpcs    []string      // VPC UUID per region, same index as regions

	firstCreated time.Time // creation time of droplet 0
	backupWeek   time.Time // the week backup windows fall in
}

// Fixed origins of the generated values, so that output is reproducible.
const (
	firstDropletID = 401_233_751
	firstBackupID  = 180_002_000
	createdEvery   = 7*time.Hour + 23*time.Minute + 17*time.Second // between two droplets' creation
)

// newCatalog returns the default account's catalog of count droplets,
// spread over o's open regions.
func newCatalog(o *offerings, count int) *catalog {
	c := &catalog{
		count:        count,
		firstID:      firstDropletID,
		offer:        o,
		regions:      o.available,
		firstCreated: time.Date(2023, time.February, 6, 9, 12, 44, 0, time.UTC),
		backupWeek:   time.Date(2026, time.January, 5, 0, 0, 0, 0, time.UTC),
		private:      []*imageJSON{snapshot(171_002_316, "web-01 before the 24.04 upgrade", o.size("s-2vcpu-4gb"), "2025-11-03T22:14:09Z", "nyc1", "nyc3")},
		keys: []sshKeyJSON{
			sshKey(41_520_173, "Sammy's laptop", "sammy@laptop"),
			sshKey(41_520_974, "CI deploy key", "deploy@ci.example.com"),
		},
	}
	for _, r := range c.regions {
		c.vpcs = append(c.vpcs, stableUUID("vpc:"+r.Slug))
	}
	image := func(slug string) *imageJSON {
		return o.publicImage(func(img *imageJSON) bool { return *img.Slug == slug })
	}
	ubuntu, debian, fedora, docker := image("ubuntu-24-04-x64"), image("debian-12-x64"), image("fedora-40-x64"), image("docker-22-04")

	c.roles = []role{
		{name: "web", tags: []string{"web", "production"}, size: o.size("s-2vcpu-4gb"), image: ubuntu, backups: true, ipv6: true},
		{name: "db", tags: []string{"db", "production"}, size: o.size("g-2vcpu-8gb"), image: debian, backups: true},
		{name: "worker", tags: []string{"worker", "production"}, size: o.size("c-4"), image: docker},
		{name: "staging-web", tags: []string{"web", "staging"}, size: o.size("s-1vcpu-2gb"), image: ubuntu, ipv6: true},
		{name: "cache", tags: []string{"cache", "production"}, size: o.size("m-2vcpu-16gb"), image: debian},
		{name: "api", tags: []string{"api", "production"}, size: o.size("c-2"), image: ubuntu, backups: true, ipv6: true},
		{name: "ci-runner", tags: []string{"ci"}, size: o.size("s-4vcpu-8gb"), image: docker},
		{name: "dev-box", tags: []string{}, size: o.size("s-1vcpu-1gb"), image: fedora, ipv6: true, off: true},
	}
	for k := range c.roles {
		r := &c.roles[k]
		r.features = []string{"monitoring", "droplet_agent", "private_networking"}
		if r.backups {
			r.features = append([]string{"backups"}, r.features...)
		}
		if r.ipv6 {
			r.features = append(r.features, "ipv6")
		}
	}
	return c
}

// secondCatalog returns the second account's droplets: other roles first,
// other IDs, addresses and creation times than the default account's.
func secondCatalog(o *offerings) *catalog {
	c := newCatalog(o, secondAccountDroplets)
	c.firstID = firstDropletID + 37*maxDroplets + 1_000_003
	c.shift = 5 // api-01, ci-runner-01, dev-box-01 (off), web-01, db-primary
	c.netBase = 7 * 253
	c.firstCreated = time.Date(2024, time.September, 17, 15, 3, 9, 0, time.UTC)
	c.private = []*imageJSON{snapshot(172_480_951, "api-01 golden image", o.size("c-2"), "2025-12-15T09:41:27Z", "nyc1", "tor1")}
	c.keys = []sshKeyJSON{
		sshKey(43_077_112, "Octavia's workstation", "octavia@workstation"),
		sshKey(43_077_530, "Lab bastion", "bastion@lab.example.com"),
	}
	return c
}

// role returns the role of droplet i.
func (c *catalog) role(i int) *role {
	return &c.roles[(i+c.shift)%len(c.roles)]
}

// index returns the index of the droplet with the given ID, or false.
func (c *catalog) index(id int) (int, bool) {
	off := id - c.firstID
	if off < 0 || off%37 != 0 || off/37 >= c.count {
		return 0, false
	}
	return off / 37, true
}

// name returns droplet i's generated name without building the droplet.
func (c *catalog) name(i int) string {
	return dropletName(c.role(i).name, i/len(c.roles)+1)
}

// droplet builds droplet i (0 <= i < count).
func (c *catalog) droplet(i int) dropletJSON {
	r := c.role(i)
	nth := i/len(c.roles) + 1 // 1 for the first droplet of this role
	regionIdx := (i + 3*(i/len(c.roles))) % len(c.regions)
	id := c.firstID + 37*i
	n := i + c.netBase

	d := dropletJSON{
		ID:          id,
		Name:        dropletName(r.name, nth),
		Memory:      r.size.Memory,
		VCPUs:       r.size.VCPUs,
		Disk:        r.size.Disk,
		DiskInfo:    r.size.DiskInfo,
		Status:      dropletStatus(i, r),
		CreatedAt:   c.firstCreated.Add(time.Duration(i) * createdEvery).Format(time.RFC3339),
		Features:    r.features,
		BackupIDs:   []int{},
		SnapshotIDs: []int{},
		Image:       r.image,
		VolumeIDs:   []string{},
		Size:        r.size,
		SizeSlug:    r.size.Slug,
		Networks:    networksJSON{V4: []networkV4JSON{}, V6: []networkV6JSON{}},
		Region:      c.regions[regionIdx],
		Tags:        r.tags,
		VPCUUID:     c.vpcs[regionIdx],
	}
	// next_backup_window is required and, as the OpenAPI description
	// combines "nullable" with allOf, validators reject null; DigitalOcean's
	// own example gives a window to a droplet without backups too. So every
	// droplet has one, and only those with backups have backup IDs.
	start := c.backupWeek.Add(time.Duration(i%7) * 24 * time.Hour)
	d.NextBackupWindow = &backupWindowJSON{
		Start: start.Format(time.RFC3339),
		End:   start.Add(23 * time.Hour).Format(time.RFC3339),
	}
	if r.backups {
		d.BackupIDs = []int{firstBackupID + 2*n, firstBackupID + 2*n + 1}
	}
	if d.Status != "new" { // a droplet still being created has no addresses yet
		d.Networks = dropletNetworks(n, regionIdx, r.ipv6)
	}
	return d
}

// dropletName numbers droplets within their role: web-01, web-02, ...; the
// first database is the primary and the others its replicas.
func dropletName(role string, nth int) string {
	if role == "db" {
		if nth == 1 {
			return "db-primary"
		}
		return fmt.Sprintf("db-replica-%02d", nth-1)
	}
	return fmt.Sprintf("%s-%02d", role, nth)
}

// dropletStatus makes most droplets active, with a few being created, off
// or archived, so that every status appears in a long enough list (and
// "new" and "off" among the default eight).
func dropletStatus(i int, r *role) string {
	switch {
	case r.off:
		return "off"
	case i%13 == 3:
		return "new"
	case i%29 == 27:
		return "archive"
	default:
		return "active"
	}
}

// dropletNetworks gives droplet i a public and a private IPv4 address and,
// if it has IPv6, a public IPv6 address. Public addresses come from the
// ranges reserved for documentation (RFC 5737, RFC 3849), so no real host
// is ever shown; they repeat after 759 droplets, which is harmless here.
// Private addresses are in the region's VPC, a 10.x.0.0/20 as at
// DigitalOcean.
func dropletNetworks(i, regionIdx int, ipv6 bool) networksJSON {
	public := [...]string{"203.0.113", "198.51.100", "192.0.2"}[i%3]
	host := 2 + (i/3)%253 // .1 is the gateway
	n := networksJSON{
		V4: []networkV4JSON{
			{IPAddress: fmt.Sprintf("%s.%d", public, host), Netmask: "255.255.255.0", Gateway: public + ".1", Type: "public"},
			{IPAddress: fmt.Sprintf("10.%d.%d.%d", 100+regionIdx, (i/250)%16, 2+i%250), Netmask: "255.255.240.0", Type: "private"},
		},
		V6: []networkV6JSON{},
	}
	if ipv6 {
		prefix := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(regionIdx + 1)}
		addr, gw := prefix, prefix
		host := uint32(i) + 2 // ::1 is the gateway
		addr[12], addr[13], addr[14], addr[15] = byte(host>>24), byte(host>>16), byte(host>>8), byte(host)
		gw[15] = 1
		n.V6 = append(n.V6, networkV6JSON{
			IPAddress: netip.AddrFrom16(addr).String(),
			Netmask:   64,
			Gateway:   netip.AddrFrom16(gw).String(),
			Type:      "public",
		})
	}
	return n
}

func localDisk(gb int) diskInfoJSON {
	d := diskInfoJSON{Type: "local"}
	d.Size.Amount, d.Size.Unit = gb, "gib"
	return d
}

// stableUUID derives a UUID-shaped identifier from seed, the same in every
// run (version 4 and variant bits set so it looks like what DigitalOcean
// returns).
func stableUUID(seed string) string {
	b := sha256.Sum256([]byte("sandbox:" + seed))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// list returns page `page` (from 1) of perPage droplets among those match
// keeps (all when match is nil), each built by build, and the number of
// matches. Without a filter it builds only the droplets on the page; with
// one it walks the indices, which is cheap because match looks at a role or
// a name, not at a whole droplet.
func (c *catalog) list(match func(i int) bool, build func(i int) dropletJSON, page, perPage int) (items []dropletJSON, total int) {
	items = []dropletJSON{}        // an empty page is [], not null
	start := -1                    // index of the page's first match; -1: past the end
	if page-1 <= c.count/perPage { // also keeps the product from overflowing
		start = (page - 1) * perPage
	}
	if match == nil {
		for i := start; start >= 0 && i < c.count && len(items) < perPage; i++ {
			items = append(items, build(i))
		}
		return items, c.count
	}
	for i := range c.count {
		if !match(i) {
			continue
		}
		if start >= 0 && total >= start && len(items) < perPage {
			items = append(items, build(i))
		}
		total++
	}
	return items, total
}

// tagged returns a match function for the droplets tagged tag.
func (c *catalog) tagged(tag string) func(int) bool {
	byRole := make([]bool, len(c.roles))
	for k, r := range c.roles {
		byRole[k] = slices.Contains(r.tags, tag)
	}
	return func(i int) bool { return byRole[(i+c.shift)%len(c.roles)] }
}
