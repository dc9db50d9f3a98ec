package sqlstore

// SetReadHook lets tests see every read query the store runs.
func SetReadHook(s *Store, f func(query string, args []any)) { s.onRead = f }
