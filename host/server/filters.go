package server

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/router"
	"github.com/sluiceproxy/sluice/host/worker"
)

// filterBuilder turns http_filters entries into filter factories.
type filterBuilder struct {
	log    *zap.Logger
	tables []*router.Table
}

func newFilterBuilder(log *zap.Logger, workers []*worker.Worker) (*filterBuilder, error) {
	return &filterBuilder{log: log}, nil
}

func (b *filterBuilder) build(path string, f *config.HTTPFilter) (hcm.FilterFactory, error) {
	return nil, fmt.Errorf("%s: module filters are not available in this build", path)
}

func (b *filterBuilder) perRoute(ff hcm.FilterFactory, raw []byte) (any, error) {
	return raw, nil
}

func (b *filterBuilder) trackRoutes(t *router.Table) { b.tables = append(b.tables, t) }

func (b *filterBuilder) close() {}

// modulesInfo describes the loaded modules for /modules.
func (b *filterBuilder) modulesInfo() []any { return []any{} }

// stats are module-defined metrics and module host counters.
func (b *filterBuilder) stats() []statValue { return nil }
