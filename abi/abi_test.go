package abi

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// mirrored pairs each Go mirror with its C type name.
var mirrored = []struct {
	cName string
	goVal any
}{
	{"sluice_buffer", Buffer{}},
	{"sluice_header", Header{}},
	{"sluice_config_handle", Handle{}},
	{"sluice_filter_handle", Handle{}},
	{"sluice_scheduler_handle", Handle{}},
	{"sluice_timer_handle", Handle{}},
	{"sluice_network_filter_handle", Handle{}},
	{"sluice_callout_handle", Handle{}},
	{"sluice_callout_request", CalloutRequest{}},
	{"sluice_callout_result", CalloutResult{}},
	{"sluice_metric_def", MetricDef{}},
	{"sluice_host_api", HostAPI{}},
}

// constants pairs each C macro with the Go value that must equal it.
var constants = []struct {
	cName string
	goVal int64
}{
	{"SLUICE_ABI_VERSION_MAJOR", VersionMajor}, {"SLUICE_ABI_VERSION_MINOR", VersionMinor},
	{"SLUICE_ABI_VERSION", Version},
	{"SLUICE_OK", int64(OK)}, {"SLUICE_ERR_INVALID_HANDLE", int64(ErrInvalidHandle)},
	{"SLUICE_ERR_STREAM_ENDED", int64(ErrStreamEnded)}, {"SLUICE_ERR_NOT_FOUND", int64(ErrNotFound)},
	{"SLUICE_ERR_UNAVAILABLE", int64(ErrUnavailable)}, {"SLUICE_ERR_BUFFER_TOO_SMALL", int64(ErrBufferTooSmall)},
	{"SLUICE_ERR_INVALID_ARGUMENT", int64(ErrInvalidArg)}, {"SLUICE_ERR_WRONG_THREAD", int64(ErrWrongThread)},
	{"SLUICE_ERR_WRONG_PHASE", int64(ErrWrongPhase)}, {"SLUICE_ERR_LIMIT", int64(ErrLimit)},
	{"SLUICE_HEADERS_CONTINUE", HeadersContinue}, {"SLUICE_HEADERS_STOP_ITERATION", HeadersStopIteration},
	{"SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM", HeadersContinueAndDontEndStream},
	{"SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER", HeadersStopAllIterationAndBuffer},
	{"SLUICE_HEADERS_STOP_ALL_ITERATION_AND_WATERMARK", HeadersStopAllIterationAndWatermark},
	{"SLUICE_BODY_CONTINUE", BodyContinue}, {"SLUICE_BODY_STOP_ITERATION_AND_BUFFER", BodyStopIterationAndBuffer},
	{"SLUICE_BODY_STOP_ITERATION_AND_WATERMARK", BodyStopIterationAndWatermark},
	{"SLUICE_BODY_STOP_ITERATION_NO_BUFFER", BodyStopIterationNoBuffer},
	{"SLUICE_TRAILERS_CONTINUE", TrailersContinue}, {"SLUICE_TRAILERS_STOP_ITERATION", TrailersStopIteration},
	{"SLUICE_REQUEST_HEADERS", int64(RequestHeaders)}, {"SLUICE_REQUEST_TRAILERS", int64(RequestTrailers)},
	{"SLUICE_RESPONSE_HEADERS", int64(ResponseHeaders)}, {"SLUICE_RESPONSE_TRAILERS", int64(ResponseTrailers)},
	{"SLUICE_RECEIVED_REQUEST_BODY", int64(ReceivedRequestBody)}, {"SLUICE_BUFFERED_REQUEST_BODY", int64(BufferedRequestBody)},
	{"SLUICE_RECEIVED_RESPONSE_BODY", int64(ReceivedResponseBody)}, {"SLUICE_BUFFERED_RESPONSE_BODY", int64(BufferedResponseBody)},
	{"SLUICE_LOG_TRACE", int64(LogTrace)}, {"SLUICE_LOG_DEBUG", int64(LogDebug)}, {"SLUICE_LOG_INFO", int64(LogInfo)},
	{"SLUICE_LOG_WARN", int64(LogWarn)}, {"SLUICE_LOG_ERROR", int64(LogError)},
	{"SLUICE_LOG_CRITICAL", int64(LogCritical)}, {"SLUICE_LOG_OFF", int64(LogOff)},
	{"SLUICE_ATTR_REQUEST_METHOD", int64(AttrRequestMethod)}, {"SLUICE_ATTR_REQUEST_PATH", int64(AttrRequestPath)},
	{"SLUICE_ATTR_REQUEST_HOST", int64(AttrRequestHost)}, {"SLUICE_ATTR_REQUEST_SCHEME", int64(AttrRequestScheme)},
	{"SLUICE_ATTR_REQUEST_PROTOCOL", int64(AttrRequestProtocol)}, {"SLUICE_ATTR_REQUEST_ID", int64(AttrRequestID)},
	{"SLUICE_ATTR_SOURCE_ADDRESS", int64(AttrSourceAddress)},
	{"SLUICE_ATTR_DESTINATION_ADDRESS", int64(AttrDestinationAddress)},
	{"SLUICE_ATTR_SOURCE_PORT", int64(AttrSourcePort)}, {"SLUICE_ATTR_DESTINATION_PORT", int64(AttrDestinationPort)},
	{"SLUICE_ATTR_CONNECTION_ID", int64(AttrConnectionID)}, {"SLUICE_ATTR_STREAM_ID", int64(AttrStreamID)},
	{"SLUICE_ATTR_WORKER_INDEX", int64(AttrWorkerIndex)}, {"SLUICE_ATTR_RESPONSE_CODE", int64(AttrResponseCode)},
	{"SLUICE_METRIC_COUNTER", MetricCounter}, {"SLUICE_METRIC_GAUGE", MetricGauge},
	{"SLUICE_METRIC_HISTOGRAM", MetricHistogram},
	{"SLUICE_DIRECTION_REQUEST", DirectionRequest}, {"SLUICE_DIRECTION_RESPONSE", DirectionResponse},
	{"SLUICE_ATTR_TLS_SNI", int64(AttrTLSSNI)}, {"SLUICE_ATTR_TLS_ALPN", int64(AttrTLSALPN)},
	{"SLUICE_ATTR_TLS_VERSION", int64(AttrTLSVersion)}, {"SLUICE_ATTR_TLS_PEER_SUBJECT", int64(AttrTLSPeerSubject)},
	{"SLUICE_ATTR_TLS_PEER_SANS", int64(AttrTLSPeerSANs)},
	{"SLUICE_NETWORK_CONTINUE", NetworkContinue}, {"SLUICE_NETWORK_STOP_ITERATION", NetworkStopIteration},
	{"SLUICE_NETWORK_EVENT_CONNECTED", NetworkEventConnected},
	{"SLUICE_NETWORK_EVENT_REMOTE_CLOSE", NetworkEventRemoteClose},
	{"SLUICE_NETWORK_EVENT_LOCAL_CLOSE", NetworkEventLocalClose},
	{"SLUICE_NETWORK_READ_BUFFER", NetworkReadBuffer}, {"SLUICE_NETWORK_WRITE_BUFFER", NetworkWriteBuffer},
	{"SLUICE_CLOSE_FLUSH", CloseFlush}, {"SLUICE_CLOSE_ABORT", CloseAbort},
	{"SLUICE_CALLOUT_OK", CalloutOK}, {"SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM", CalloutNoHealthyUpstream},
	{"SLUICE_CALLOUT_OVERFLOW", CalloutOverflow}, {"SLUICE_CALLOUT_CONNECT_FAILURE", CalloutConnectFailure},
	{"SLUICE_CALLOUT_RESET", CalloutReset}, {"SLUICE_CALLOUT_TIMEOUT", CalloutTimeout},
	{"SLUICE_CALLOUT_RESPONSE_TOO_LARGE", CalloutResponseTooLarge},
	{"SLUICE_CALLOUT_CLUSTER_UNKNOWN", CalloutClusterUnknown},
}

// cProgram prints "key value" lines: sizeof/offsetof for every mirrored
// field and the value of every constant.
func cProgram() string {
	var b strings.Builder
	b.WriteString("#include \"sluice_abi.h\"\n#include <stdio.h>\nint main(void) {\n")
	for _, m := range mirrored {
		fmt.Fprintf(&b, "  printf(\"sizeof.%s %%zu\\n\", sizeof(%s));\n", m.cName, m.cName)
		t := reflect.TypeOf(m.goVal)
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i).Tag.Get("c")
			fmt.Fprintf(&b, "  printf(\"offsetof.%s.%s %%zu\\n\", offsetof(%s, %s));\n", m.cName, f, m.cName, f)
			fmt.Fprintf(&b, "  printf(\"sizeof.%s.%s %%zu\\n\", sizeof(((%s*)0)->%s));\n", m.cName, f, m.cName, f)
		}
	}
	for _, c := range constants {
		fmt.Fprintf(&b, "  printf(\"const.%s %%lld\\n\", (long long)(%s));\n", c.cName, c.cName)
	}
	// SLUICE_HOST_API_HAS against a table from an older host that ends
	// just before per_route_config.
	b.WriteString("  sluice_host_api old = {0};\n  old.size = offsetof(sluice_host_api, per_route_config);\n")
	b.WriteString("  printf(\"has.old.per_route_config %d\\n\", (int)SLUICE_HOST_API_HAS(&old, per_route_config));\n")
	b.WriteString("  printf(\"has.old.metadata_get_number %d\\n\", (int)SLUICE_HOST_API_HAS(&old, metadata_get_number));\n")
	b.WriteString("  return 0;\n}\n")
	return b.String()
}

// runC compiles cProgram against the header in strict C99 and returns its
// output as a map.
func runC(t *testing.T) map[string]int64 {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed: cannot check the Go mirror against sluice_abi.h")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "layout.c")
	if err := os.WriteFile(src, []byte(cProgram()), 0o644); err != nil {
		t.Fatal(err)
	}
	hdr, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "layout")
	out, err := exec.Command(gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", hdr, "-o", bin, src).CombinedOutput()
	if err != nil {
		t.Fatalf("compiling against sluice_abi.h: %v\n%s", err, out)
	}
	out, err = exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("running layout program: %v", err)
	}
	vals := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		vals[k] = n
	}
	return vals
}

func TestGoMirrorMatchesHeader(t *testing.T) {
	vals := runC(t)
	for _, m := range mirrored {
		typ := reflect.TypeOf(m.goVal)
		if got, want := int64(typ.Size()), vals["sizeof."+m.cName]; got != want {
			t.Errorf("sizeof(%s): Go %d, C %d", m.cName, got, want)
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			c := f.Tag.Get("c")
			if got, want := int64(f.Offset), vals["offsetof."+m.cName+"."+c]; got != want {
				t.Errorf("offsetof(%s, %s): Go %d, C %d", m.cName, c, got, want)
			}
			if got, want := int64(f.Type.Size()), vals["sizeof."+m.cName+"."+c]; got != want {
				t.Errorf("sizeof(%s.%s): Go %d, C %d", m.cName, c, got, want)
			}
		}
	}
	for _, c := range constants {
		if got, ok := vals["const."+c.cName]; !ok || got != c.goVal {
			t.Errorf("%s: C %d, Go %d", c.cName, got, c.goVal)
		}
	}
	if vals["has.old.per_route_config"] != 0 || vals["has.old.metadata_get_number"] != 1 {
		t.Errorf("SLUICE_HOST_API_HAS on an older table: per_route_config %d, metadata_get_number %d",
			vals["has.old.per_route_config"], vals["has.old.metadata_get_number"])
	}
}

// Every field of the C host table must be mirrored: the Go struct's size
// equals the C size, and the fields are contiguous, so a C field missing in
// Go would show up as a size mismatch above. This checks the converse
// explicitly: no two Go fields map to one C field.
func TestHostAPIFieldsUnique(t *testing.T) {
	seen := map[string]bool{}
	typ := reflect.TypeOf(HostAPI{})
	for i := 0; i < typ.NumField(); i++ {
		c := typ.Field(i).Tag.Get("c")
		if c == "" || seen[c] {
			t.Fatalf("field %s: C name %q empty or duplicated", typ.Field(i).Name, c)
		}
		seen[c] = true
	}
}

func TestSplitVersion(t *testing.T) {
	maj, min := SplitVersion(Version)
	if maj != VersionMajor || min != VersionMinor {
		t.Fatalf("SplitVersion(%#x) = %d.%d", Version, maj, min)
	}
	if maj, min := SplitVersion(2<<16 | 7); maj != 2 || min != 7 {
		t.Fatalf("SplitVersion(2.7) = %d.%d", maj, min)
	}
}

func TestStatusValidity(t *testing.T) {
	for s := int32(-1); s <= 6; s++ {
		if got, want := ValidHeadersStatus(s), s >= 0 && s <= 4; got != want {
			t.Errorf("ValidHeadersStatus(%d) = %v", s, got)
		}
		if got, want := ValidBodyStatus(s), s >= 0 && s <= 3; got != want {
			t.Errorf("ValidBodyStatus(%d) = %v", s, got)
		}
		if got, want := ValidTrailersStatus(s), s == 0 || s == 1; got != want {
			t.Errorf("ValidTrailersStatus(%d) = %v", s, got)
		}
	}
	if ErrStreamEnded.String() != "SLUICE_ERR_STREAM_ENDED" || Result(42).String() != "SLUICE_RESULT(unknown)" {
		t.Fatal("Result.String")
	}
}
