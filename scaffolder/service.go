package scaffolder

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder/tasks"
)

// TemplateSource reads Template entities, normally from the catalog with
// the caller's credentials. TemplateByRef returns an error wrapping
// backend.ErrNotFound, or (nil, nil), when there is no such entity.
type TemplateSource interface {
	TemplateByRef(ctx context.Context, ref string) (*ojson.Object, error)
}

// Service is the scaffolder's engine: templates from a TemplateSource,
// durable tasks in a tasks.Queue, run by a Runner.
type Service struct {
	Runner    *Runner
	Queue     *tasks.Queue
	Templates TemplateSource
	// FilterTemplate, when set, applies the caller's
	// scaffolder.template.parameter.read and .step.read decisions (see
	// Template.Filter and PermissionTags) to every template it reads.
	FilterTemplate func(ctx context.Context, t *Template) error
	// OnStepStatus, when set, is told of each step status a task's log
	// reports (processing, completed, failed, skipped), with the task's
	// template ref (metrics).
	OnStepStatus func(taskID, template, stepID, status string)
}

// ParseTemplateRef parses a template reference with default kind
// "template" and namespace "default", lowercased. A malformed ref is
// catalog-model's TypeError, which Backstage answers with a 500.
func ParseTemplateRef(ref string) (kind, namespace, name string, err error) {
	r, err := model.ParseRef(ref, model.RefDefaults{Kind: "template"})
	if err != nil {
		return "", "", "", err
	}
	return strings.ToLower(r.Kind), strings.ToLower(r.Namespace), strings.ToLower(r.Name), nil
}

// FindTemplate reads and parses a template: a kind other than Template is
// an InputError, a missing one NotFound ("Template <ref> not found"), an
// apiVersion other than v1beta3 an InputError.
func (s *Service) FindTemplate(ctx context.Context, kind, namespace, name string) (*Template, string, error) {
	if !strings.EqualFold(kind, "template") {
		return nil, "", backend.Input("Invalid kind, only 'Template' kind is supported")
	}
	ref := strings.ToLower(fmt.Sprintf("%s:%s/%s", kind, namespace, name))
	ent, err := s.Templates.TemplateByRef(ctx, ref)
	if err != nil && backend.KindOf(err) != backend.ErrNotFound {
		return nil, "", err
	}
	if ent == nil || err != nil {
		return nil, "", backend.NotFound("Template %s not found", ref)
	}
	t, err := ParseTemplate(ent)
	if err != nil {
		return nil, "", err
	}
	if s.FilterTemplate != nil {
		if err := s.FilterTemplate(ctx, t); err != nil {
			return nil, "", err
		}
	}
	return t, ref, nil
}

// CreateRequest is a parsed POST /v2/tasks.
type CreateRequest struct {
	TemplateRef string
	Values      any
	Secrets     map[string]string
	User        UserInfo
	// Token is the caller's Backstage token, kept as secrets.backstageToken.
	Token string
}

// ValidationError carries the {errors:[...]} body of a 400 answer.
type ValidationError struct{ Errors []*ojson.Object }

func (e *ValidationError) Error() string { return "parameter validation failed" }

// CreateTask validates the values against the template and queues a task.
func (s *Service) CreateTask(ctx context.Context, req CreateRequest) (string, error) {
	kind, ns, name, err := ParseTemplateRef(req.TemplateRef)
	if err != nil {
		return "", err
	}
	t, ref, err := s.FindTemplate(ctx, kind, ns, name)
	if err != nil {
		return "", err
	}
	if errs := ValidateParameters(t.Pages, req.Values); errs != nil {
		return "", &ValidationError{errs}
	}
	if errs := ValidateSecrets(t, req.Secrets); errs != nil {
		return "", &ValidationError{errs}
	}
	spec := t.TaskSpec(req.Values, req.User, ref, EntityBaseURL(t.Entity))
	b, err := ojson.Marshal(spec)
	if err != nil {
		return "", err
	}
	return s.Queue.Create(ctx, b, taskSecrets(req.Secrets, req.Token), req.User.Ref)
}

// taskSecrets are the request's secrets plus backstageToken when known.
func taskSecrets(secrets map[string]string, token string) map[string]string {
	out := make(map[string]string, len(secrets)+1)
	for k, v := range secrets {
		out[k] = v
	}
	if token != "" {
		out["backstageToken"] = token
	}
	return out
}

// Retry reopens a finished task; its completed steps are not run again.
func (s *Service) Retry(ctx context.Context, id string, secrets map[string]string, token string) error {
	t, err := s.Queue.Store.GetTask(ctx, id)
	if err != nil {
		return err
	}
	var spec struct {
		TemplateInfo struct {
			EntityRef string `json:"entityRef"`
		} `json:"templateInfo"`
	}
	_ = json.Unmarshal(t.Spec, &spec)
	if spec.TemplateInfo.EntityRef != "" && s.Templates != nil {
		kind, ns, name, err := ParseTemplateRef(spec.TemplateInfo.EntityRef)
		if err != nil {
			return err
		}
		tpl, _, err := s.FindTemplate(ctx, kind, ns, name)
		if err != nil {
			return err
		}
		if errs := ValidateSecrets(tpl, secrets); errs != nil {
			return &ValidationError{errs}
		}
	}
	return s.Queue.Retry(ctx, id, taskSecrets(secrets, token))
}

// NewWorker returns a worker that runs this service's tasks.
func (s *Service) NewWorker(concurrency int) *tasks.Worker {
	return &tasks.Worker{Queue: s.Queue, Exec: s.Exec, Concurrency: concurrency, Logger: s.Runner.Logger}
}

// Exec runs one claimed task (a tasks.ExecFunc).
func (s *Service) Exec(ctx context.Context, t *tasks.Task, h *tasks.Handle) (string, json.RawMessage) {
	fail := func(err error) (string, json.RawMessage) {
		return tasks.StatusFailed, ojson.MustMarshal(ojson.NewObject(
			"message", "Run completed with status: failed",
			"error", ojson.NewObject("name", ErrorName(err), "message", ErrorMessage(err))))
	}
	spec, err := ojson.DecodeObject(t.Spec)
	if err != nil {
		return fail(fmt.Errorf("Failed to parse spec of task '%s', %w", t.ID, err))
	}
	if v, _ := spec.Get("apiVersion"); v != APIVersion {
		return fail(fmt.Errorf("Unsupported Template apiVersion %s", jsString(v)))
	}
	var mu sync.Mutex
	done := map[string]json.RawMessage{}
	completed := map[string]*ojson.Object{}
	for id, raw := range t.Steps {
		done[id] = raw
		if o, err := ojson.DecodeObject(raw); err == nil {
			completed[id] = o
		} else {
			completed[id] = ojson.NewObject()
		}
	}
	user := UserInfo{}
	if u := spec.Object("user"); u != nil {
		user.Entity, user.Ref = u.Object("entity"), u.String("ref")
	}
	// An earlier attempt's events count against this task's log budget;
	// the budget itself bounds how many there can be.
	template := ""
	if ti := spec.Object("templateInfo"); ti != nil {
		template = ti.String("entityRef")
	}
	budget := newLogBudget(s.Runner.LogLimit)
	prior, err := h.Events(ctx)
	if err != nil {
		return fail(fmt.Errorf("read the events of task '%s': %w", t.ID, err))
	}
	for _, e := range prior {
		budget.seen(e.Body)
	}
	run := &Run{
		TaskID:    t.ID,
		Spec:      spec,
		Secrets:   t.Secrets,
		Completed: completed,
		User:      user,
		Emit: func(ctx context.Context, body *ojson.Object) error {
			if s.OnStepStatus != nil {
				if step, status := body.String("stepId"), body.String("status"); step != "" && status != "" {
					s.OnStepStatus(t.ID, template, step, status)
				}
			}
			mu.Lock()
			keep, note := budget.admit(body)
			mu.Unlock()
			if note != nil {
				if err := h.Emit(ctx, tasks.EventLog, ojson.MustMarshal(note)); err != nil {
					return err
				}
			}
			if !keep {
				return nil
			}
			return h.Emit(ctx, tasks.EventLog, ojson.MustMarshal(body))
		},
		StepCompleted: func(ctx context.Context, stepID string, output *ojson.Object) error {
			mu.Lock()
			defer mu.Unlock()
			done[stepID] = ojson.MustMarshal(output)
			return h.SaveSteps(ctx, done)
		},
	}
	out, err := s.Runner.Execute(ctx, run)
	if err != nil {
		return fail(err)
	}
	return tasks.StatusCompleted, ojson.MustMarshal(ojson.NewObject("message", "Run completed with status: completed", "output", out))
}
