package cluster

import (
	"errors"

	"github.com/sluiceproxy/sluice/host/worker"
)

// isConnectTimeout tells a connect that ran out of connect_timeout from one
// that failed.
func isConnectTimeout(err error) bool {
	return errors.Is(err, worker.ErrConnectTimeout) || errors.Is(err, worker.ErrHandshakeTimeout)
}
