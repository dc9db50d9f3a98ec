package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/scaffolder/sqlstore"
)

// TestSecretsAreSealed checks that a task's secrets never sit in the
// database in clear text, that the worker that claims the task gets them
// back, and that a replica with another configured key cannot read them.
func TestSecretsAreSealed(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			opts := open(t)
			db, err := database.Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			for _, keyed := range []bool{false, true} {
				var sopts []sqlstore.Option
				if keyed {
					sopts = append(sopts, sqlstore.WithSecretsKey("configured key"))
				}
				s, err := sqlstore.New(ctx, db, sopts...)
				if err != nil {
					t.Fatal(err)
				}
				const secret = "ghp_very-secret-token-value"
				id, err := s.CreateTask(ctx, spec, map[string]string{"token": secret}, "user:default/jane")
				if err != nil {
					t.Fatal(err)
				}
				var stored string
				if err := db.Write.DB.QueryRowContext(ctx, database.Rebind(db.Dialect(), `SELECT secrets FROM scaffolder_tasks WHERE id = ?`), id).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(stored, secret) || strings.Contains(stored, "token") {
					t.Fatalf("secrets stored in clear text: %q", stored)
				}
				claimed, err := s.Claim(ctx, "worker", 10, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if len(claimed) != 1 || claimed[0].Secrets["token"] != secret {
					t.Fatalf("claimed %d tasks with secrets %v", len(claimed), claimed)
				}
				if err := s.Complete(ctx, id, "worker", "completed", []byte(`{"message":"Run completed with status: completed"}`)); err != nil {
					t.Fatal(err)
				}
				if keyed {
					// A replica configured with another key cannot open them.
					if _, err := s.CreateTask(ctx, spec, map[string]string{"token": secret}, ""); err != nil {
						t.Fatal(err)
					}
					other, err := sqlstore.New(ctx, db, sqlstore.WithSecretsKey("another key"))
					if err != nil {
						t.Fatal(err)
					}
					if _, err := other.Claim(ctx, "intruder", 10, time.Minute); err == nil {
						t.Error("a replica with another key read sealed secrets")
					}
				}
			}
		})
	}
}
