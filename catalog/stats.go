package catalog

import "time"

// Stats is a snapshot of the catalog's size and backlog, for metrics and
// progress lines.
type Stats struct {
	// EntitiesByKind counts stitched entities by lower-cased kind.
	EntitiesByKind map[string]int64
	// Entities counts refresh-state rows: every entity known to the
	// catalog, processed or not.
	Entities int64
	// Locations counts registered locations (POST /locations).
	Locations int64
	// Relations counts stored relations between entities.
	Relations int64
	// ProcessingDue counts entities whose next processing time has passed:
	// the processing queue's depth.
	ProcessingDue int64
	// OldestDue is when the longest-waiting due entity became due (zero
	// when none is due): now minus it is the queue's lag.
	OldestDue time.Time
	// StitchQueue counts entities waiting to be stitched.
	StitchQueue int64
}
