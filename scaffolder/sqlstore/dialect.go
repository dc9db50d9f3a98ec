package sqlstore

import "github.com/understage/understage/plugins/backend/database"

// dialect holds every SQL difference between the databases.
type dialect interface {
	rebind(q string) string
	// claimSQL args: worker, lease end, now, limit; returns taskCols, secrets, steps.
	claimSQL() string
	// rescueSQL args: now, now; returns id, spec of the reopened tasks.
	rescueSQL() string
	noLimit() string
	// notifyOpenSQL tells the other replicas' workers that a task was
	// opened, when the transaction it runs in commits; "" when the database
	// cannot.
	notifyOpenSQL() string
}

// openChannel is the NOTIFY channel of opened tasks. NOTIFY is scoped to a
// database, which the scaffolder's replicas share.
const openChannel = "scaffolder_task_opened"

const claimReturning = `RETURNING id, spec, status, created_at, last_heartbeat_at, created_by, cancel_requested, attempt, secrets, steps`

type sqliteDialect struct{}

func (sqliteDialect) rebind(q string) string { return q }
func (sqliteDialect) noLimit() string        { return "-1" }
func (sqliteDialect) notifyOpenSQL() string  { return "" }

// SQLite has one writer, so UPDATE … WHERE id IN (SELECT … LIMIT) is atomic.
func (sqliteDialect) claimSQL() string {
	return `UPDATE scaffolder_tasks SET status = 'processing', claimed_by = ?, lease_until = ?, last_heartbeat_at = ?3, attempt = attempt + 1
WHERE id IN (SELECT id FROM scaffolder_tasks WHERE status = 'open' ORDER BY created_at, id LIMIT ?4)
` + claimReturning
}

func (sqliteDialect) rescueSQL() string {
	return `UPDATE scaffolder_tasks SET status = 'open', claimed_by = NULL, lease_until = NULL, last_heartbeat_at = ?
WHERE status = 'processing' AND lease_until < ? RETURNING id, spec`
}

type postgresDialect struct{}

func (postgresDialect) noLimit() string { return "ALL" }

// Notifications of one transaction with the same payload are delivered
// once, so a transaction opening many tasks sends one.
func (postgresDialect) notifyOpenSQL() string { return `SELECT pg_notify('` + openChannel + `', '')` }

func (postgresDialect) rebind(q string) string { return database.Rebind(database.DialectPostgres, q) }

// Replicas claim concurrently: SKIP LOCKED lets each take tasks the others
// are not holding.
func (postgresDialect) claimSQL() string {
	return `UPDATE scaffolder_tasks SET status = 'processing', claimed_by = $1, lease_until = $2, last_heartbeat_at = $3, attempt = attempt + 1
WHERE id IN (SELECT id FROM scaffolder_tasks WHERE status = 'open' ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED)
` + claimReturning
}

func (postgresDialect) rescueSQL() string {
	return `UPDATE scaffolder_tasks SET status = 'open', claimed_by = NULL, lease_until = NULL, last_heartbeat_at = $1
WHERE id IN (SELECT id FROM scaffolder_tasks WHERE status = 'processing' AND lease_until < $2 FOR UPDATE SKIP LOCKED) RETURNING id, spec`
}
