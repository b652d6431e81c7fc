package cluster

// Retries are a circuit breaker of their own (Envoy's max_retries, or its
// retry_budget): the router asks for a retry slot before each retry and
// gives it back when that attempt ends, so retries cannot multiply the
// load on a cluster that is already failing. Cluster-wide, atomic.

// retryLimit is how many retries may be outstanding now: max_retries, or
// with a budget, budget_percent of the requests active or pending (at
// least min_retry_concurrency).
func (c *Cluster) retryLimit() int64 {
	b := c.settings.RetryBudget
	if b == nil {
		return int64(c.settings.MaxRetries)
	}
	var active int64
	for _, wp := range c.pools {
		active += wp.hot.rqActive.Load()
	}
	active += c.stats.rqPendingActive.Load()
	return max(int64(b.MinRetryConcurrency), int64(float64(active)*b.BudgetPercent/100))
}

// TryRetry reserves a retry: it counts upstream_rq_retry and returns true,
// or counts upstream_rq_retry_overflow and returns false when the limit
// is reached. A true must be matched by RetryDone when the retried
// attempt ends (however it ends). Any goroutine.
func (c *Cluster) TryRetry() bool {
	limit := c.retryLimit()
	for {
		n := c.stats.retriesActive.Load()
		if n >= limit {
			c.stats.rqRetryOverflow.Add(1)
			return false
		}
		if c.stats.retriesActive.CompareAndSwap(n, n+1) {
			c.stats.rqRetry.Add(1)
			return true
		}
	}
}

// RetryDone gives back a retry reserved with TryRetry.
func (c *Cluster) RetryDone() { c.stats.retriesActive.Add(-1) }

// RetryStat is a retry outcome the router counts in the cluster's stats.
type RetryStat uint8

const (
	// RetrySuccess: a retried attempt's answer was forwarded.
	RetrySuccess RetryStat = iota
	// RetryLimitExceeded: a retriable failure was forwarded because no
	// retry was left (num_retries).
	RetryLimitExceeded
	// RetryBackoff: a retry waited its exponential back-off.
	RetryBackoff
	// PerTryTimeout: an attempt's per_try_timeout fired.
	PerTryTimeout
)

// CountRetry counts a retry outcome.
func (c *Cluster) CountRetry(what RetryStat) {
	switch what {
	case RetrySuccess:
		c.stats.rqRetrySuccess.Add(1)
	case RetryLimitExceeded:
		c.stats.rqRetryLimitExceeded.Add(1)
	case RetryBackoff:
		c.stats.rqRetryBackoff.Add(1)
	case PerTryTimeout:
		c.stats.rqPerTryTmo.Add(1)
	}
}
