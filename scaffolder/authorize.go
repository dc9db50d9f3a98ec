package scaffolder

import (
	"context"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// authorizeIterations asks Runner.AuthorizeAction about every iteration
// that will run; one refusal fails the whole step before any iteration ran.
func (s *runState) authorizeIterations(ctx context.Context, actionID string, iters []iteration) error {
	if s.r.AuthorizeAction == nil {
		return nil
	}
	for _, it := range iters {
		if !it.shouldRun {
			continue
		}
		in, _ := it.input.(*ojson.Object)
		if in == nil {
			in = ojson.NewObject()
		}
		ok, err := s.r.AuthorizeAction(ctx, s.run, actionID, in)
		if err != nil {
			return err
		}
		if !ok {
			return backend.NotAllowed("Unauthorized action: %s. The action is not allowed.", actionID)
		}
	}
	return nil
}
