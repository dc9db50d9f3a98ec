package processing

import "fmt"

// Limits bound the work and memory one input can cost. Backstage has none;
// the defaults are far above what real catalogs need (a file of 100,000
// generated components is about 25 MB), so that they only stop inputs that
// would otherwise exhaust the server.
type Limits struct {
	// FileBytes is the largest file a location may read
	// (catalog.limits.maxFileSize).
	FileBytes int64
	// PlaceholderBytes is the largest file a $text, $json or $yaml
	// placeholder may read (catalog.limits.maxPlaceholderSize).
	PlaceholderBytes int64
	// EntitiesPerFile is the most entities one location file may hold
	// (catalog.limits.maxEntitiesPerFile).
	EntitiesPerFile int
}

// Config keys of the limits, named in their errors so that an author knows
// what to change.
const (
	LimitKeyFileSize        = "catalog.limits.maxFileSize"
	LimitKeyPlaceholderSize = "catalog.limits.maxPlaceholderSize"
	LimitKeyEntitiesPerFile = "catalog.limits.maxEntitiesPerFile"
)

// DefaultLimits are the limits when the config sets none.
func DefaultLimits() Limits {
	return Limits{FileBytes: 32 << 20, PlaceholderBytes: 16 << 20, EntitiesPerFile: 100_000}
}

// withDefaults fills the unset (zero or negative) limits with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.FileBytes <= 0 {
		l.FileBytes = d.FileBytes
	}
	if l.PlaceholderBytes <= 0 {
		l.PlaceholderBytes = d.PlaceholderBytes
	}
	if l.EntitiesPerFile <= 0 {
		l.EntitiesPerFile = d.EntitiesPerFile
	}
	return l
}

// LimitError is an input over one of the Limits. It is an InputError in
// Backstage's terms: the input, not the catalog, has to change (or the
// limit, named by Key).
type LimitError struct {
	// What names the input ("file:/x/catalog-info.yaml", "./spec.yaml").
	What  string
	Limit int64
	// Unit is "bytes" or "entities".
	Unit string
	Key  string
}

func (e *LimitError) Error() string {
	verb := "is larger than"
	if e.Unit == "entities" {
		verb = "holds more than"
	}
	return fmt.Sprintf("%s %s %d %s, the limit set by %s", e.What, verb, e.Limit, e.Unit, e.Key)
}

// ErrorName is the Backstage error class of the error.
func (e *LimitError) ErrorName() string { return "InputError" }
