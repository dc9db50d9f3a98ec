package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"
)

// TestTaskListQueryMatchesOracle replays testdata/task_list_query.json, the
// oracle's answers to GET /v2/tasks with unusual query strings (recorded by
// testdata/gen_task_list_query.py over three tasks): limit and offset as
// Backstage's validator reads them (Number(): 1e2, 0x10, " 5", Infinity)
// and knex applies them (parseInt of the number's text), and the
// validator's unknown, empty and repeated parameters.
func TestTaskListQueryMatchesOracle(t *testing.T) {
	raw, err := os.ReadFile("testdata/task_list_query.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Query      string
		Status     int
		Tasks      []int // positions in creation order
		TotalTasks int
		Body       string
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	forEachDB(t, func(t *testing.T, open dbFactory) {
		b := setup(t, open, true)
		var ids []string
		for range 3 {
			ids = append(ids, b.create(t, `{"templateRef":"ok","values":{}}`))
			// created_at has millisecond resolution; a tie would leave the
			// order of the list to the database.
			time.Sleep(2 * time.Millisecond)
		}
		for _, c := range cases {
			code, out := b.do(t, "GET", "/v2/tasks?"+c.Query, "")
			switch {
			case code != c.Status:
				t.Errorf("%s: status %d, want %d: %s", c.Query, code, c.Status, out)
			case code == http.StatusInternalServerError:
				// Backstage's body names its database's error and shows the
				// SQL; ours is the envelope of any internal error.
			case c.Body != "":
				if string(out) != c.Body {
					t.Errorf("%s:\n got %s\nwant %s", c.Query, out, c.Body)
				}
			default:
				var list struct {
					Tasks      []struct{ ID string }
					TotalTasks int
				}
				if err := json.Unmarshal(out, &list); err != nil {
					t.Fatalf("%s: %v: %s", c.Query, err, out)
				}
				got := []int{}
				for _, task := range list.Tasks {
					got = append(got, slices.Index(ids, task.ID))
				}
				if !slices.Equal(got, c.Tasks) || list.TotalTasks != c.TotalTasks {
					t.Errorf("%s: tasks %v of %d, want %v of %d", c.Query, got, list.TotalTasks, c.Tasks, c.TotalTasks)
				}
			}
		}
	})
}
