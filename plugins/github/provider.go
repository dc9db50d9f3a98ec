package github

import (
	"context"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/scheduler"
)

// Provider is an entity provider that runs on a schedule (it satisfies
// catalogplugin.EntityProvider; the GitHub catalog module adds it to the
// catalog, whose scheduler runs it): each Run reads its source and applies
// a mutation to the store. A Run that fails must leave
// what the provider emitted before untouched (return the error instead of
// applying a partial or empty set).
type Provider interface {
	// Name is the provider's stable id; it keys the rows it owns in the
	// store, so it must not change between releases.
	Name() string
	// Schedule says when the scheduler starts Run.
	Schedule() Schedule
	// Run does one complete pass.
	Run(ctx context.Context, store catalog.ProcessingStore) error
}

// Schedule is Backstage's task schedule definition for a provider: the
// scheduler service's.
type Schedule = scheduler.Schedule

// ReadSchedule reads a provider's schedule object as Backstage's
// readSchedulerServiceTaskScheduleDefinitionFromConfig does.
func ReadSchedule(c *config.Config) (Schedule, error) { return scheduler.ReadSchedule(c) }
