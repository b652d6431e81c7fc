package router

import (
	"strings"
	"time"

	"github.com/sluiceproxy/sluice/host/config"
)

// RetryOn is the set of retry_on conditions of a retry policy.
type RetryOn uint16

const (
	// Retry5xx: any 5xx answer, and no answer at all (connect failure,
	// reset, refused stream, per-try timeout).
	Retry5xx RetryOn = 1 << iota
	// RetryGatewayError: 502, 503 and 504 answers, and no answer at all.
	RetryGatewayError
	// RetryReset: no answer at all (disconnect, reset, per-try timeout).
	RetryReset
	// RetryResetBeforeRequest: the connection failed or was reset before
	// the request went out (safe to retry even for non-idempotent
	// requests).
	RetryResetBeforeRequest
	// RetryConnectFailure: the connect failed or timed out.
	RetryConnectFailure
	// Retry4xx: 409 Conflict (Envoy's retriable-4xx).
	Retry4xx
	// RetryRefusedStream: the HTTP/2 upstream refused the stream.
	RetryRefusedStream
	// RetryStatusCodes: the policy's retriable_status_codes.
	RetryStatusCodes
)

var retryOnNames = map[string]RetryOn{
	"5xx": Retry5xx, "gateway-error": RetryGatewayError, "reset": RetryReset,
	"reset-before-request": RetryResetBeforeRequest, "connect-failure": RetryConnectFailure,
	"retriable-4xx": Retry4xx, "refused-stream": RetryRefusedStream, "retriable-status-codes": RetryStatusCodes,
}

// RetryPolicy is a compiled retry_policy (the route's, else its virtual
// host's).
type RetryPolicy struct {
	On            RetryOn
	NumRetries    int
	PerTryTimeout time.Duration // 0: none (the route timeout bounds all tries)
	// BaseInterval and MaxInterval bound the back-off: before retry n the
	// router waits a random time in [0, min(base × (2^n − 1), max)).
	BaseInterval time.Duration
	MaxInterval  time.Duration
	StatusCodes  []uint16
	// PreviousHosts: each retry avoids hosts already tried, re-picking up
	// to HostSelectionAttempts times.
	PreviousHosts         bool
	HostSelectionAttempts int
}

// Default back-off (Envoy's).
const DefaultRetryBaseInterval = 25 * time.Millisecond

func compileRetryPolicy(p *config.RetryPolicy) *RetryPolicy {
	if p == nil {
		return nil
	}
	rp := &RetryPolicy{NumRetries: p.NumRetries, PerTryTimeout: p.PerTryTimeout, BaseInterval: DefaultRetryBaseInterval}
	for _, c := range strings.Split(p.RetryOn, ",") {
		rp.On |= retryOnNames[strings.TrimSpace(c)]
	}
	if b := p.RetryBackOff; b != nil {
		rp.BaseInterval = b.BaseInterval
		rp.MaxInterval = b.MaxInterval
	}
	if rp.BaseInterval <= 0 {
		rp.BaseInterval = DefaultRetryBaseInterval
	}
	if rp.MaxInterval <= 0 {
		rp.MaxInterval = 10 * rp.BaseInterval
	}
	for _, c := range p.RetriableStatusCodes {
		rp.StatusCodes = append(rp.StatusCodes, uint16(c))
	}
	rp.PreviousHosts = p.UsesPreviousHosts()
	rp.HostSelectionAttempts = p.HostSelectionRetryMaxAttempts
	if rp.PreviousHosts && rp.HostSelectionAttempts == 0 {
		rp.HostSelectionAttempts = 1
	}
	return rp
}

// RetriableStatus reports whether an answer with this status is retried.
func (p *RetryPolicy) RetriableStatus(code int) bool {
	switch {
	case p.On&Retry5xx != 0 && code >= 500 && code <= 599:
		return true
	case p.On&RetryGatewayError != 0 && code >= 502 && code <= 504:
		return true
	case p.On&Retry4xx != 0 && code == 409:
		return true
	case p.On&RetryStatusCodes != 0:
		for _, c := range p.StatusCodes {
			if int(c) == code {
				return true
			}
		}
	}
	return false
}

// Failure is how an attempt failed without an answer.
type Failure uint8

const (
	FailConnect       Failure = iota // connect refused, failed or timed out
	FailReset                        // the connection closed or the stream was reset
	FailRefusedStream                // HTTP/2 REFUSED_STREAM
	FailPerTryTimeout                // per_try_timeout fired before the answer
)

// RetriableFailure reports whether an attempt that failed this way is
// retried; beforeRequest says no request byte reached the upstream.
func (p *RetryPolicy) RetriableFailure(f Failure, beforeRequest bool) bool {
	if p.On&(Retry5xx|RetryGatewayError|RetryReset) != 0 {
		return true
	}
	switch {
	case p.On&RetryResetBeforeRequest != 0 && beforeRequest:
		return true
	case p.On&RetryConnectFailure != 0 && f == FailConnect:
		return true
	case p.On&RetryRefusedStream != 0 && f == FailRefusedStream:
		return true
	}
	return false
}
