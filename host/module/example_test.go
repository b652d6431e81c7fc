package module

import (
	"reflect"
	"testing"

	"github.com/sluiceproxy/sluice/host/hcm"
)

// The SDK example (sdk-c/examples/api_key.c) works as its comment says.
func TestSDKExampleAPIKey(t *testing.T) {
	e := newEnv(t, 1, Options{})
	m := e.load("api_key")
	if _, err := m.NewFilterFactory("auth", []byte(`{}`)); err == nil ||
		err.Error() != `module "`+m.Path()+`", filter "auth": config rejected by the module: "key" must be a non-empty string` {
		t.Fatalf("empty config: %v", err)
	}
	ff := e.factory("api_key", "auth", `{"key": "s3cret"}`)
	good := newFakeCallbacks(0, ":method", "GET", "x-api-key", "s3cret")
	bad := newFakeCallbacks(0, ":method", "GET", "x-api-key", "guess")
	e.on(0, func() {
		f := ff.NewFilter(good)
		if st := f.DecodeHeaders(good.req, true); st != hcm.HeadersContinue {
			t.Errorf("good key: %d", st)
		}
		if got := headerList(good.req); !reflect.DeepEqual(got, []string{":method: GET", "x-authenticated: yes"}) {
			t.Errorf("good key headers %q", got)
		}
		endStream(good, f)
		f = ff.NewFilter(bad)
		if st := f.DecodeHeaders(bad.req, true); st != hcm.HeadersStopIteration {
			t.Errorf("bad key: %d", st)
		}
		want := &localReply{status: 401, hdrs: [][2]string{{"www-authenticate", "ApiKey"}},
			body: "missing or wrong API key\n", details: "api_key_rejected"}
		if !reflect.DeepEqual(bad.reply, want) {
			t.Errorf("reply %+v", bad.reply)
		}
		endStream(bad, f)
	})
	rejected := int64(-1)
	for _, s := range e.host.Stats().Metrics {
		if s.Name == "auth.rejected" {
			rejected = s.Value
		}
	}
	if rejected != 1 {
		t.Fatalf("auth.rejected = %d, want 1", rejected)
	}
}
