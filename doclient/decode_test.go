package doclient

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/digitalocean/godo"
)

// realisticPage returns a body of GET /v2/droplets with n droplets
// described as DigitalOcean describes them (godo's full Droplet, with its
// size, region and image catalogues): about 1.5 KB a droplet, nearly all of
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

// decodeCases are bodies on which decoders are known to differ: the
// decoding of droplet pages must give what encoding/json gave.
var decodeCases = []struct{ name, body string }{
	{"DigitalOcean's shape", `{"droplets":[{"id":1,"name":"web-1","memory":1024,"vcpus":1,"disk":25,"locked":false,"status":"active","kernel":null,` +
		`"created_at":"2024-01-02T03:04:05Z","features":["backups"],"backup_ids":[7],"next_backup_window":{"start":"a","end":"b"},` +
		`"image":{"id":5,"name":"24.04 (LTS) x64","distribution":"Ubuntu","slug":"ubuntu-24-04-x64","regions":["nyc3"],"size_gigabytes":2.44},` +
		`"size":{"slug":"s-1vcpu-1gb","price_hourly":0.00744},"size_slug":"s-1vcpu-1gb",` +
		`"networks":{"v4":[{"ip_address":"203.0.113.2","netmask":"255.255.255.0","gateway":"203.0.113.1","type":"public"}],"v6":[]},` +
		`"region":{"name":"New York 3","slug":"nyc3","sizes":["s-1vcpu-1gb"],"features":["ipv6"],"available":true},"tags":["web"],"vpc_uuid":"u"}],` +
		`"links":{"pages":{"next":"https://api.digitalocean.com/v2/droplets?page=2&per_page=200","last":"https://api.digitalocean.com/v2/droplets?page=3&per_page=200"},"actions":[]},` +
		`"meta":{"total":450}}`},
	{"names in another case", `{"Droplets":[{"ID":1,"NAME":"a","Created_At":"c","Size_Slug":"s","Region":{"SLUG":"nyc3"}}],"META":{"Total":9},"Links":{"Pages":{"LAST":"x?page=2"}}}`},
	{"names without their underscore", `{"droplets":[{"id":1,"createdat":"c","sizeslug":"s","networks":{"v4":[{"ipaddress":"1.2.3.4"}]}}]}`},
	{"names exact and in another case", `{"droplets":[{"name":"exact","Name":"other case"},{"Name":"other case","name":"exact"}]}`},
	{"repeated names", `{"droplets":[{"id":1,"id":2,"name":"a","name":null,"status":"x","status":"y",` +
		`"region":{"slug":"nyc3"},"region":{"name":"New York 3"},"region":null,"image":{"id":1},"image":{"slug":"u"},` +
		`"networks":{"v4":[{"ip_address":"1.1.1.1","type":"public"}]},"networks":{"v4":[{"ip_address":"2.2.2.2"}]},"tags":["a","b"],"tags":["c"]}],` +
		`"meta":{"total":1},"meta":{"total":2}}`},
	{"droplets repeated", `{"droplets":[{"id":1,"name":"a"},{"id":2}],"droplets":[{"status":"off"}]}`},
	{"nulls", `{"droplets":[{"id":null,"name":null,"memory":null,"tags":null,"networks":null,"region":null,"image":null},null,{"networks":{"v4":null}},{"networks":{"v4":[null]}}],"links":null,"meta":null}`},
	{"nulls in the head", `{"droplets":null,"links":{"pages":null},"meta":{"total":null}}`},
	{"null", `null`},
	{"empty object", `{}`},
	{"unknown members of every kind", `{"droplets":[{"x":{"a":[1,2,{"b":null}]},"y":"s","z":-1.5e10,"w":true,"v":false,"id":3,"u":[[],{}]}],"extra":[],"links":{"pages":{"first":"f","prev":"p"},"actions":[{"id":1}]},"meta":{"page":1}}`},
	{"escapes", `{"droplets":[{"name":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","tags":["\u0041"]}]}`},
	{"a lone surrogate", `{"droplets":[{"name":"a\ud800b","status":"\udc00"}]}`},
	{"invalid UTF-8", "{\"droplets\":[{\"name\":\"a\xffb\",\"tags\":[\"\xc3\"]}]}"},
	{"invalid UTF-8 in a name", "{\"droplets\":[{\"na\xffme\":\"a\",\"id\":1}]}"},
	{"whitespace", " \t\n{ \"droplets\" : [ { \"id\" : 1 } ] } \r\n"},
	{"numbers", `{"droplets":[{"id":-0,"memory":9223372036854775807,"vcpus":-9223372036854775808,"disk":0}]}`},
	{"a number too large", `{"droplets":[{"id":9223372036854775808}]}`},
	{"a fraction", `{"droplets":[{"id":1.5}]}`},
	{"an exponent", `{"droplets":[{"id":1e2}]}`},
	{"a fraction of zero", `{"droplets":[{"id":1.0}]}`},
	{"a number as a string", `{"droplets":[{"id":"7"}]}`},
	{"a string as a number", `{"droplets":[{"name":7}]}`},
	{"a bool as a string", `{"droplets":[{"name":true}]}`},
	{"a string for a list", `{"droplets":[{"tags":"web"}]}`},
	{"a list for an object", `{"droplets":[{"region":[]}]}`},
	{"an object for a list", `{"droplets":{}}`},
	{"a wrong type in the head", `{"droplets":[],"meta":{"total":"9"}}`},
	{"a wrong type after the error", `{"droplets":[{"id":"x","name":"a"},{"id":2}],"meta":{"total":2}}`},
	{"a list", `[]`},
	{"a string", `"droplets"`},
	{"empty", ``},
	{"truncated", `{"droplets":[{"id":1,"name":"a`},
	{"a trailing comma", `{"droplets":[{"id":1},]}`},
	{"trailing data", `{"droplets":[]} {}`},
	{"a control character", "{\"droplets\":[{\"name\":\"a\x01b\"}]}"},
	{"an invalid escape", `{"droplets":[{"name":"a\xb"}]}`},
	{"single quotes", `{'droplets':[]}`},
	{"a comment", `{"droplets":[] /* no */}`},
	{"a leading BOM", "\ufeff{\"droplets\":[]}"},
	{"NaN", `{"droplets":[{"id":NaN}]}`},
	{"a leading zero", `{"droplets":[{"id":01}]}`},
	{"a plus sign", `{"droplets":[{"id":+1}]}`},
}

func TestDecodeAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range decodeCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkDecodeAsEncodingJSON(t, []byte(tt.body))
		})
	}
	t.Run("a realistic page", func(t *testing.T) {
		t.Parallel()
		checkDecodeAsEncodingJSON(t, realisticPage(t, 200, 1000))
	})
}

// FuzzDecodeAsEncodingJSON looks for bodies on which the two decoders
// differ: go test -fuzz FuzzDecodeAsEncodingJSON ./doclient
func FuzzDecodeAsEncodingJSON(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAsEncodingJSON(t, data)
	})
}

func checkDecodeAsEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	wantDroplets, wantPage, wantErr := decodePageWith(json.Unmarshal, data) // the reference: encoding/json
	droplets, page, err := decodePage(data)
	if (err != nil) != (wantErr != nil) {
		t.Errorf("%q: decodePage error %v; encoding/json: %v", data, err, wantErr)
	} else if err == nil {
		if !reflect.DeepEqual(droplets, wantDroplets) {
			t.Errorf("%q: droplets\n%+v\nwant (encoding/json)\n%+v", data, droplets, wantDroplets)
		}
		if *page != *wantPage {
			t.Errorf("%q: decodePage head %+v, want (encoding/json) %+v", data, *page, *wantPage)
		}
	}
	wantHead, wantErr := decodePageHeadWith(json.Unmarshal, data)
	head, err := decodePageHead(data)
	if (err != nil) != (wantErr != nil) {
		t.Errorf("%q: decodePageHead error %v; encoding/json: %v", data, err, wantErr)
	} else if err == nil && *head != *wantHead {
		t.Errorf("%q: decodePageHead %+v, want (encoding/json) %+v", data, *head, *wantHead)
	}
}
