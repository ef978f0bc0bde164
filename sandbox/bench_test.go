package sandbox_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"dosignin/sandbox"
)

// BenchmarkListDroplets lists the 200 droplets of a middle page out of
// 5000: generating them on the fly must stay cheap.
func BenchmarkListDroplets(b *testing.B) {
	h := newHarness(b, withDroplets(5000), withConfig(func(c *sandbox.Config) { c.RateLimit, c.BurstLimit = -1, -1 }))
	tok := h.login(b)
	req := httptest.NewRequest(http.MethodGet, "/v2/droplets?page=13&per_page=200", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)

	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.sb.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
