// Package databasetest gives tests a fresh PostgreSQL database each.
package databasetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver

	"github.com/understage/understage/plugins/backend/database"
)

const adminDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PG creates an empty database on the local PostgreSQL (127.0.0.1:5432, user
// postgres, trust auth), drops it when the test ends, and returns Options
// that open it. Without a reachable server the test is skipped, except
// under CI=true where a missing server is a failure.
func PG(t testing.TB) database.Options {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", adminDSN)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			_ = admin.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("databasetest: PostgreSQL unreachable at 127.0.0.1:5432: %v", err)
		}
		t.Logf("NOTICE: PostgreSQL unreachable at 127.0.0.1:5432, skipping: %v", err)
		t.Skip("PostgreSQL unreachable")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "understage_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+database.QuoteIdent(name)); err != nil {
		_ = admin.Close()
		t.Fatalf("databasetest: create database: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: handles the test forgot to close must not keep the database alive.
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+database.QuoteIdent(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("databasetest: drop database %s: %v", name, err)
		}
	})
	return database.Options{
		Client: "pg",
		Connection: map[string]any{
			"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": name,
		},
	}
}
