package render

import "fmt"

// Configuration keys of the template limits (Understage's own; Backstage
// fixes nunjitsu's defaults). Each is a positive whole number.
const (
	// ConfigMaxOutputSize bounds one rendered template (a skeleton file,
	// a file name, a step input), in UTF-16 code units as JavaScript
	// counts string length. Default 16 Mi, as in Backstage.
	ConfigMaxOutputSize = "scaffolder.templating.maxOutputSize"
	// ConfigMaxSourceSize bounds one template's source. Default 4 Mi.
	ConfigMaxSourceSize = "scaffolder.templating.maxSourceSize"
	// ConfigMaxWorkUnits bounds evaluation steps. Default 1,000,000.
	ConfigMaxWorkUnits = "scaffolder.templating.maxWorkUnits"
	// ConfigMaxNestingDepth bounds nested tags, expressions and macro
	// calls. Default 512.
	ConfigMaxNestingDepth = "scaffolder.templating.maxNestingDepth"
	// ConfigMaxNodes bounds the parsed template's size. Default 1,000,000.
	ConfigMaxNodes = "scaffolder.templating.maxNodes"
)

// LimitsFromConfig reads the scaffolder.templating.* keys through read
// (a config lookup returning the number, whether it is set, and a type
// error); unset keys keep the defaults.
func LimitsFromConfig(read func(key string) (int, bool, error)) (Limits, error) {
	l := DefaultLimits()
	for _, f := range []struct {
		key string
		dst *int
	}{
		{ConfigMaxOutputSize, &l.Output},
		{ConfigMaxSourceSize, &l.Source},
		{ConfigMaxWorkUnits, &l.Steps},
		{ConfigMaxNestingDepth, &l.Depth},
		{ConfigMaxNodes, &l.Nodes},
	} {
		n, ok, err := read(f.key)
		if err != nil {
			return Limits{}, fmt.Errorf("%s: %w", f.key, err)
		}
		if !ok {
			continue
		}
		if n <= 0 {
			return Limits{}, fmt.Errorf("%s must be a positive whole number, got %d", f.key, n)
		}
		*f.dst = n
	}
	return l, nil
}
