package module

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/host/hcm"
)

// Labeled counters and histograms with their own buckets reach
// /stats/prometheus as one family per metric name, with a filter label;
// the host's per-filter invalid_status and panics counters are there too.
func TestLabeledMetricsAndPrometheus(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("metrics", "m", `{}`)
	e.on(0, func() {
		for _, method := range []string{"GET", "GET", "POST"} {
			cb := newFakeCallbacks(0, ":method", method, ":path", "/x")
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			endStream(cb, f)
		}
	})
	var b bytes.Buffer
	e.host.WritePrometheus(&b)
	prom := b.String()
	// GET: ":method"+"GET"+":path"+"/x" = 7+3+5+2 = 17 bytes of headers.
	for _, want := range []string{
		"# TYPE sluice_module_metric_requests_by_method counter\n" +
			"sluice_module_metric_requests_by_method{filter=\"m\",method=\"GET\"} 2\n" +
			"sluice_module_metric_requests_by_method{filter=\"m\",method=\"POST\"} 1\n",
		"# TYPE sluice_module_metric_header_bytes histogram\n" +
			"sluice_module_metric_header_bytes_bucket{filter=\"m\",method=\"GET\",le=\"8\"} 0\n" +
			"sluice_module_metric_header_bytes_bucket{filter=\"m\",method=\"GET\",le=\"64\"} 2\n" +
			"sluice_module_metric_header_bytes_bucket{filter=\"m\",method=\"GET\",le=\"512\"} 2\n" +
			"sluice_module_metric_header_bytes_bucket{filter=\"m\",method=\"GET\",le=\"+Inf\"} 2\n" +
			"sluice_module_metric_header_bytes_sum{filter=\"m\",method=\"GET\"} 34\n" +
			"sluice_module_metric_header_bytes_count{filter=\"m\",method=\"GET\"} 2\n",
		"# TYPE sluice_module_metric_requests_total counter\nsluice_module_metric_requests_total{filter=\"m\"} 3\n",
		"# TYPE sluice_module_filter_invalid_status counter\nsluice_module_filter_invalid_status{filter=\"m\"} 0\n",
		"# TYPE sluice_module_filter_panics counter\nsluice_module_filter_panics{filter=\"m\"} 0\n",
	} {
		if !strings.Contains(prom, want) {
			t.Errorf("prometheus output lacks\n%s\n---- got:\n%s", want, prom)
		}
	}
	if n := strings.Count(prom, "# TYPE sluice_module_metric_requests_by_method "); n != 1 {
		t.Fatalf("family written %d times", n)
	}
	if s := e.host.Stats().String(); !strings.Contains(s, "module.m.requests_by_method{method=\"POST\"}: 1\n") {
		t.Fatalf("/stats text:\n%s", s)
	}
}

// The same entry name in two configs shares its metrics (one series, never
// emitted twice); a metric that would mean two things is refused at load,
// naming the collision, even when the module ignored the define error.
func TestMetricCollisionsRefusedAtLoad(t *testing.T) {
	e := newEnv(t, 1, Options{})
	m := e.load("metric_clash")
	newFF := func(entry, config string) (*FilterFactory, error) {
		ff, err := m.NewNamedFilterFactory(entry, "clash", []byte(config))
		if err == nil {
			t.Cleanup(ff.Close)
		}
		return ff, err
	}
	if _, err := newFF("a", `{"define": "hits-counter"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := newFF("a", `{"define": "hits-counter"}`); err != nil {
		t.Fatalf("same entry, same metric: %v", err)
	}
	for _, tc := range []struct{ entry, config, want string }{
		{"a", `{"define": "hits-gauge"}`, `metric "hits" of filter "a" is already defined as a counter with labels []; a metric name means one thing`},
		{"b", `{"define": "hits-gauge"}`, `metric "hits" of filter "b" is a gauge with labels [], but filter "a" defines it as a counter with labels [] (or other buckets); sluice_module_metric_hits can have one shape`},
		{"c", `{"define": "reserved"}`, `metric name "panics" is reserved for the host's per-filter counter`},
	} {
		_, err := newFF(tc.entry, tc.config)
		want := `module "` + m.Path() + `", filter "clash": ` + tc.want
		if err == nil || err.Error() != want {
			t.Errorf("%s %s:\n got: %v\nwant: %s", tc.entry, tc.config, err, want)
		}
	}
	if _, err := newFF("d", `{"define": "dotted"}`); err != nil {
		t.Fatal(err)
	}
	_, err := newFF("d", `{"define": "underscored"}`)
	want := `module "` + m.Path() + `", filter "clash": metric "req_total" of filter "d" would be exported as sluice_module_metric_req_total, which metric "req.total" of filter "d" already is`
	if err == nil || err.Error() != want {
		t.Fatalf("family clash:\n got: %v\nwant: %s", err, want)
	}
	var b bytes.Buffer
	e.host.WritePrometheus(&b)
	if n := strings.Count(b.String(), "# TYPE sluice_module_metric_hits "); n != 1 {
		t.Fatalf("hits family written %d times:\n%s", n, b.String())
	}
}

// invalid_status is counted per filter entry.
func TestInvalidStatusCountedPerFilter(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("invalid_status", "bad", `{}`)
	e.on(0, func() {
		cb := newFakeCallbacks(0, ":method", "GET")
		f := ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
			t.Errorf("status %d", st)
		}
		endStream(cb, f)
	})
	var b bytes.Buffer
	e.host.WritePrometheus(&b)
	if !strings.Contains(b.String(), "sluice_module_filter_invalid_status{filter=\"bad\"} 1\n") {
		t.Fatalf("prometheus:\n%s", b.String())
	}
}
