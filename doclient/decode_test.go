package doclient

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

// realisticPage returns a body of GET /v2/droplets with n droplets
// described as DigitalOcean describes them (godo's full Droplet, with its
// size, region and image catalogues): about 2 KB a droplet, nearly all of
// it fields the app does not show.
func realisticPage(tb testing.TB, n, total int) []byte {
	tb.Helper()
	regions := []string{"nyc1", "nyc3", "sfo3", "ams3", "fra1", "lon1", "sgp1", "tor1", "blr1", "syd1"}
	sizes := []string{"s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb", "s-4vcpu-8gb",
		"c-2", "c-4", "c-8", "g-2vcpu-8gb", "gd-2vcpu-8gb", "m-2vcpu-16gb", "m-4vcpu-32gb", "so-2vcpu-16gb"}
	droplets := make([]godo.Droplet, n)
	for i := range droplets {
		region := regions[i%len(regions)]
		droplets[i] = godo.Droplet{
			ID: 300000000 + i, Name: fmt.Sprintf("web-%04d", i), Memory: 2048, Vcpus: 1, Disk: 50,
			Status: "active", Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
			SizeSlug: "s-1vcpu-2gb", Tags: []string{"web", "env:prod"}, Features: []string{"backups", "monitoring", "droplet_agent", "private_networking"},
			BackupIDs: []int{180002000 + i}, SnapshotIDs: []int{}, VolumeIDs: []string{},
			Size: &godo.Size{Slug: "s-1vcpu-2gb", Memory: 2048, Vcpus: 1, Disk: 50, PriceMonthly: 12, PriceHourly: 0.01786, Regions: regions,
				Available: true, Transfer: 2, Description: "Basic"},
			Region: &godo.Region{Slug: region, Name: "Region " + region, Sizes: sizes, Available: true,
				Features: []string{"backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"}},
			Image: &godo.Image{ID: 160232537, Name: "24.04 (LTS) x64", Type: "base", Distribution: "Ubuntu", Slug: "ubuntu-24-04-x64",
				Public: true, Regions: regions, MinDiskSize: 7, SizeGigaBytes: 2.44, Created: "2024-07-22T16:10:52Z",
				Description: "Ubuntu 24.04 (LTS) x64", Status: "available"},
			Networks: &godo.Networks{
				V4: []godo.NetworkV4{
					{IPAddress: fmt.Sprintf("203.0.%d.%d", i/250%250, i%250+1), Netmask: "255.255.240.0", Gateway: "203.0.0.1", Type: "public"},
					{IPAddress: fmt.Sprintf("10.10.%d.%d", i/250%250, i%250+1), Netmask: "255.255.0.0", Type: "private"},
				},
				V6: []godo.NetworkV6{{IPAddress: fmt.Sprintf("2001:db8:1::%x", i+2), Netmask: 64, Gateway: "2001:db8:1::1", Type: "public"}},
			},
			VPCUUID: "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
		}
	}
	last := max((total+199)/200, 1)
	body := map[string]any{
		"droplets": droplets,
		"links":    map[string]any{"pages": map[string]string{"last": fmt.Sprintf("https://api.digitalocean.com/v2/droplets?page=%d&per_page=200", last)}},
		"meta":     map[string]int{"total": total},
	}
	data, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// BenchmarkDecodePage decodes a full page (200 droplets) as DigitalOcean
// sends it: the CPU a listing spends per page once the body is in.
func BenchmarkDecodePage(b *testing.B) {
	data := realisticPage(b, 200, 1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		droplets, h, err := decodePage(data)
		if err != nil || len(droplets) != 200 || h.Meta.Total != 1000 {
			b.Fatalf("decodePage = %d droplets, %v", len(droplets), err)
		}
	}
}

// BenchmarkDecodePageHead is page 1's first scan, which tells the listing
// how many pages to ask for before its droplets are decoded.
func BenchmarkDecodePageHead(b *testing.B) {
	data := realisticPage(b, 200, 1000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h, err := decodePageHead(data)
		if err != nil || h.droplets != 200 || h.Meta.Total != 1000 {
			b.Fatalf("decodePageHead = %+v, %v", h, err)
		}
	}
}
