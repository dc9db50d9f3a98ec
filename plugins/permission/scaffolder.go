package permission

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Scaffolder resource types and permissions (@backstage/plugin-scaffolder-common).
const (
	ScaffolderTemplate = "scaffolder-template"
	ScaffolderAction   = "scaffolder-action"
	ScaffolderTask     = "scaffolder-task"
)

var (
	ScaffolderTemplateDryRun        = basic("scaffolder.template.dry-run", "")
	ScaffolderTemplateParameterRead = resource("scaffolder.template.parameter.read", "read", ScaffolderTemplate)
	ScaffolderTemplateStepRead      = resource("scaffolder.template.step.read", "read", ScaffolderTemplate)
	ScaffolderActionExecute         = resource("scaffolder.action.execute", "", ScaffolderAction)
	ScaffolderTaskCancel            = resource("scaffolder.task.cancel", "", ScaffolderTask)
	ScaffolderTaskCreate            = basic("scaffolder.task.create", "create")
	ScaffolderTaskRead              = resource("scaffolder.task.read", "read", ScaffolderTask)
	ScaffolderTemplateManagement    = basic("scaffolder.template.management", "")
)

// ScaffolderPermissions in the order the scaffolder's metadata route lists them.
func ScaffolderPermissions() []Permission {
	return []Permission{ScaffolderTemplateDryRun, ScaffolderTemplateParameterRead, ScaffolderTemplateStepRead,
		ScaffolderActionExecute, ScaffolderTaskCancel, ScaffolderTaskCreate, ScaffolderTaskRead, ScaffolderTemplateManagement}
}

// TemplatePart is the resource of the template read permissions: a
// parameter page or step as plain JSON values (its
// "backstage:permissions".tags are what HAS_TAG matches).
type TemplatePart = map[string]any

// ActionResource is the resource of scaffolder.action.execute.
func ActionResource(actionID string, input map[string]any) map[string]any {
	if input == nil {
		input = map[string]any{}
	}
	return map[string]any{"action": actionID, "input": input}
}

// TaskResource is the resource of scaffolder.task.read and .cancel.
func TaskResource(createdBy string) map[string]any {
	if createdBy == "" {
		return map[string]any{}
	}
	return map[string]any{"createdBy": createdBy}
}

// ScaffolderRules are the scaffolder's rules, with in-memory Apply.
func ScaffolderRules() (template, action, task []Rule) {
	template = []Rule{{Name: "HAS_TAG", Description: "Match parameters or steps with the given tag", ResourceType: ScaffolderTemplate,
		Params: []Param{{Name: "tag", Type: ParamString, Description: "Name of the tag to match on", Required: true}},
		Apply: func(res any, p map[string]any) bool {
			m, _ := res.(map[string]any)
			perms, _ := m["backstage:permissions"].(map[string]any)
			tags, _ := perms["tags"].([]any)
			return slices.Contains(tags, p["tag"])
		}}}
	action = []Rule{{Name: "HAS_ACTION_ID", Description: "Match actions with the given actionId", ResourceType: ScaffolderAction,
		Params: []Param{{Name: "actionId", Type: ParamString, Description: "Name of the actionId to match on", Required: true}},
		Apply: func(res any, p map[string]any) bool {
			m, _ := res.(map[string]any)
			return m["action"] == p["actionId"]
		}},
		hasProperty("HAS_BOOLEAN_PROPERTY", ParamBoolean),
		hasProperty("HAS_NUMBER_PROPERTY", ParamNumber),
		hasProperty("HAS_STRING_PROPERTY", ParamString),
	}
	task = []Rule{{Name: "IS_TASK_OWNER", Description: "Allows tasks created by certain users to be accessible", ResourceType: ScaffolderTask,
		Params: []Param{{Name: "createdBy", Type: ParamStringArray, Description: "List of creator entity refs; only tasks created by these users will be viewable", Required: true}},
		Apply: func(res any, p map[string]any) bool {
			m, _ := res.(map[string]any)
			by, _ := m["createdBy"].(string)
			list, _ := p["createdBy"].([]any)
			return by != "" && slices.Contains(list, any(by))
		}}}
	return template, action, task
}

var scmSegment = regexp.MustCompile(`^(?:gitlab|github|bitbucket(?:Cloud|Server)?)$`)

// hasProperty is Backstage's HAS_*_PROPERTY: the input value at key
// (a lodash path) must have the type, and equal value when given; SCM
// owner/repo properties of SCM actions compare case-insensitively.
func hasProperty(name, typ string) Rule {
	ok := func(v any) bool {
		switch typ {
		case ParamBoolean:
			_, b := v.(bool)
			return b
		case ParamNumber:
			_, b := v.(float64)
			return b
		}
		_, b := v.(string)
		return b
	}
	return Rule{Name: name, Description: "Allow actions with the specified property", ResourceType: ScaffolderAction,
		Params: []Param{
			{Name: "key", Type: ParamString, Description: "Property within the action parameters to match on", Required: true},
			{Name: "value", Type: typ, Description: "Value of the given property to match on"},
		},
		Apply: func(res any, p map[string]any) bool {
			m, _ := res.(map[string]any)
			key, _ := p["key"].(string)
			path := lodashPath(key)
			found := lookup(m["input"], path)
			if !ok(found) {
				return false
			}
			want, has := p["value"]
			if !has || want == nil {
				return true
			}
			if !ok(want) {
				return false
			}
			if ws, isStr := want.(string); isStr {
				action, _ := m["action"].(string)
				segs := strings.Split(action, ":")
				prop := strings.Join(path, ".")
				if slices.ContainsFunc(segs, scmSegment.MatchString) &&
					(slices.Contains([]string{"owner", "repoName", "projectId", "repoUrl"}, prop) || (slices.Contains(segs, "group") && prop == "path")) {
					return strings.EqualFold(ws, found.(string))
				}
			}
			return want == found
		}}
}

// lodashPath splits a lodash property path ("a.b[0].c", `a["x.y"]`).
func lodashPath(key string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(key); i++ {
		ch := key[i]
		switch ch {
		case '.':
			flush()
		case '[':
			flush()
			end := strings.IndexByte(key[i:], ']')
			if end < 0 {
				cur.WriteString(key[i:])
				i = len(key)
				continue
			}
			inner := strings.Trim(key[i+1:i+end], `"'`)
			out = append(out, inner)
			i += end
		default:
			cur.WriteByte(ch)
		}
	}
	flush()
	return out
}

func lookup(v any, path []string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(x) {
				return nil
			}
			v = x[n]
		default:
			return nil
		}
	}
	return v
}

// TaskLookup finds who created a task; found is false for unknown ids.
type TaskLookup func(ctx context.Context, id string) (createdBy string, found bool, err error)

// ScaffolderIntegration is the scaffolder's integration; tasks (when
// tasks is set) can be decided by apply-conditions, templates and actions
// cannot (as in Backstage, which answers 501 for them).
func ScaffolderIntegration(tasks TaskLookup) *Integration {
	tr, ar, kr := ScaffolderRules()
	taskType := &ResourceType{Type: ScaffolderTask, Rules: kr}
	if tasks != nil {
		taskType.Check = func(ctx context.Context, refs []string, c *Criteria) ([]bool, error) {
			out := make([]bool, len(refs))
			for i, id := range refs {
				by, found, err := tasks(ctx, id)
				if err != nil {
					return nil, err
				}
				out[i] = found && taskType.Apply(c, TaskResource(by))
			}
			return out, nil
		}
	}
	return &Integration{PluginID: "scaffolder", Permissions: ScaffolderPermissions(), Resources: []*ResourceType{
		{Type: ScaffolderTemplate, Rules: tr},
		{Type: ScaffolderAction, Rules: ar},
		taskType,
	}}
}
