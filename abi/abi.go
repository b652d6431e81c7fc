package abi

import "strconv"

// Version of the ABI this host implements (SLUICE_ABI_VERSION_MAJOR/MINOR).
const (
	VersionMajor = 2
	VersionMinor = 1
	// Version is what sluice_module_abi_version() returns: major<<16|minor.
	Version = VersionMajor<<16 | VersionMinor
)

// VersionString is "major.minor" of this host's ABI.
func VersionString() string { return FormatVersion(Version) }

// FormatVersion renders a packed version as "major.minor".
func FormatVersion(v uint32) string {
	major, minor := SplitVersion(v)
	return strconv.Itoa(int(major)) + "." + strconv.Itoa(int(minor))
}

// SplitVersion returns the major and minor parts of a packed version.
func SplitVersion(v uint32) (major, minor uint32) { return v >> 16, v & 0xffff }

// Result is sluice_result: the outcome of a host callback.
type Result int32

// Result codes (SLUICE_OK, SLUICE_ERR_*).
const (
	OK                Result = 0
	ErrInvalidHandle  Result = -1
	ErrStreamEnded    Result = -2
	ErrNotFound       Result = -3
	ErrUnavailable    Result = -4
	ErrBufferTooSmall Result = -5
	ErrInvalidArg     Result = -6
	ErrWrongThread    Result = -7
	ErrWrongPhase     Result = -8
	ErrLimit          Result = -9
)

var resultNames = map[Result]string{
	OK: "SLUICE_OK", ErrInvalidHandle: "SLUICE_ERR_INVALID_HANDLE", ErrStreamEnded: "SLUICE_ERR_STREAM_ENDED",
	ErrNotFound: "SLUICE_ERR_NOT_FOUND", ErrUnavailable: "SLUICE_ERR_UNAVAILABLE",
	ErrBufferTooSmall: "SLUICE_ERR_BUFFER_TOO_SMALL", ErrInvalidArg: "SLUICE_ERR_INVALID_ARGUMENT",
	ErrWrongThread: "SLUICE_ERR_WRONG_THREAD", ErrWrongPhase: "SLUICE_ERR_WRONG_PHASE", ErrLimit: "SLUICE_ERR_LIMIT",
}

// String returns the C macro name of the result.
func (r Result) String() string {
	if s, ok := resultNames[r]; ok {
		return s
	}
	return "SLUICE_RESULT(unknown)"
}

// Header hook statuses (sluice_headers_status); same values as hcm.HeadersStatus.
const (
	HeadersContinue                     = 0
	HeadersStopIteration                = 1
	HeadersContinueAndDontEndStream     = 2
	HeadersStopAllIterationAndBuffer    = 3
	HeadersStopAllIterationAndWatermark = 4
	headersStatusMax                    = HeadersStopAllIterationAndWatermark
)

// Body hook statuses (sluice_body_status); same values as hcm.DataStatus.
const (
	BodyContinue                  = 0
	BodyStopIterationAndBuffer    = 1
	BodyStopIterationAndWatermark = 2
	BodyStopIterationNoBuffer     = 3
	bodyStatusMax                 = BodyStopIterationNoBuffer
)

// Trailer hook statuses (sluice_trailers_status).
const (
	TrailersContinue      = 0
	TrailersStopIteration = 1
	trailersStatusMax     = TrailersStopIteration
)

// ValidHeadersStatus, ValidBodyStatus and ValidTrailersStatus report whether
// a hook's return value is one the ABI defines.
func ValidHeadersStatus(s int32) bool  { return s >= 0 && s <= headersStatusMax }
func ValidBodyStatus(s int32) bool     { return s >= 0 && s <= bodyStatusMax }
func ValidTrailersStatus(s int32) bool { return s >= 0 && s <= trailersStatusMax }

// HeaderKind selects a header map (sluice_header_kind).
type HeaderKind uint32

const (
	RequestHeaders   HeaderKind = 0
	RequestTrailers  HeaderKind = 1
	ResponseHeaders  HeaderKind = 2
	ResponseTrailers HeaderKind = 3
)

// BodyKind selects a body (sluice_body_kind).
type BodyKind uint32

const (
	ReceivedRequestBody  BodyKind = 0
	BufferedRequestBody  BodyKind = 1
	ReceivedResponseBody BodyKind = 2
	BufferedResponseBody BodyKind = 3
)

// LogLevel is sluice_log_level.
type LogLevel uint32

const (
	LogTrace    LogLevel = 0
	LogDebug    LogLevel = 1
	LogInfo     LogLevel = 2
	LogWarn     LogLevel = 3
	LogError    LogLevel = 4
	LogCritical LogLevel = 5
	LogOff      LogLevel = 6
)

// Directions (sluice_direction).
const (
	DirectionRequest  = 0
	DirectionResponse = 1
)

// Metric kinds (sluice_metric_kind).
const (
	MetricCounter   = 0
	MetricGauge     = 1
	MetricHistogram = 2
)

// AttributeID is sluice_attribute_id.
type AttributeID uint32

const (
	AttrRequestMethod      AttributeID = 1
	AttrRequestPath        AttributeID = 2
	AttrRequestHost        AttributeID = 3
	AttrRequestScheme      AttributeID = 4
	AttrRequestProtocol    AttributeID = 5
	AttrRequestID          AttributeID = 6
	AttrSourceAddress      AttributeID = 7
	AttrDestinationAddress AttributeID = 8
	AttrSourcePort         AttributeID = 9
	AttrDestinationPort    AttributeID = 10
	AttrConnectionID       AttributeID = 11
	AttrStreamID           AttributeID = 12
	AttrWorkerIndex        AttributeID = 13
	AttrResponseCode       AttributeID = 14
	// ABI 2.1: TLS facts of the connection.
	AttrTLSSNI         AttributeID = 15
	AttrTLSALPN        AttributeID = 16
	AttrTLSVersion     AttributeID = 17
	AttrTLSPeerSubject AttributeID = 18
	AttrTLSPeerSANs    AttributeID = 19
)

// Network filter statuses (sluice_network_status), ABI 2.1.
const (
	NetworkContinue      = 0
	NetworkStopIteration = 1
)

// ValidNetworkStatus reports whether s is a sluice_network_status.
func ValidNetworkStatus(s int32) bool { return s == NetworkContinue || s == NetworkStopIteration }

// Network events (sluice_network_event).
const (
	NetworkEventConnected   = 0
	NetworkEventRemoteClose = 1
	NetworkEventLocalClose  = 2
)

// Network buffers (sluice_network_buffer_kind).
const (
	NetworkReadBuffer  = 0
	NetworkWriteBuffer = 1
)

// Close types (sluice_close_type).
const (
	CloseFlush = 0
	CloseAbort = 1
)

// Callout outcomes (sluice_callout_outcome), ABI 2.1.
const (
	CalloutOK                = 0
	CalloutNoHealthyUpstream = 1
	CalloutOverflow          = 2
	CalloutConnectFailure    = 3
	CalloutReset             = 4
	CalloutTimeout           = 5
	CalloutResponseTooLarge  = 6
	CalloutClusterUnknown    = 7
)
