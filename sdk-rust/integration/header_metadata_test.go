package integration

import "testing"

func TestHeaderMetadataRoundTrip(t *testing.T) {
	be := newBackend(t)
	cfg := `{"namespace": "hm", "copy_to_metadata": ["x-user"], "set_request_headers": {"x-added": "1"},
            "remove_request_headers": ["x-secret"], "set_response_headers": {"x-served-by": "rust"}}`
	p := startSluice(t, config(filter("hm", "header_metadata", "header_metadata", cfg), be.addr()))
	r := get(t, newClient(t), p.url("/"), "x-user", "alice", "x-secret", "s3")
	checks := []struct{ name, got, want string }{
		{"backend saw x-added", r.header.Get("x-echo-x-added"), "1"},
		{"backend saw x-secret", r.header.Get("x-echo-x-secret"), ""},
		{"backend saw x-user", r.header.Get("x-echo-x-user"), "alice"},
		{"metadata read back", r.header.Get("x-metadata-x-user"), "alice"},
		{"metadata number", r.header.Get("x-metadata-copied"), "1"},
		{"response header", r.header.Get("x-served-by"), "rust"},
	}
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	// Without the header nothing is copied, and the count says so.
	r = get(t, newClient(t), p.url("/"))
	if r.header.Get("x-metadata-x-user") != "" || r.header.Get("x-metadata-copied") != "0" {
		t.Fatalf("no x-user: got x-metadata-x-user=%q copied=%q", r.header.Get("x-metadata-x-user"), r.header.Get("x-metadata-copied"))
	}
}
