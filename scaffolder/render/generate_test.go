package render

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

// TestGeneratedDifferential renders randomly generated templates with the
// oracle and with this engine and reports every difference; add the
// interesting ones to testdata/corpus.json. It needs the oracle:
//
//	UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 UNDERSTAGE_GENERATE=7:400:file \
//	  go test ./scaffolder/render -run TestGeneratedDifferential
//
// UNDERSTAGE_GENERATE is seed:count:mode, mode being file (skeleton files
// with every whitespace option, cookiecutter included), layout (the same
// with plain expressions, so that whitespace is what varies) or value
// (typed step outputs).
func TestGeneratedDifferential(t *testing.T) {
	base, spec := os.Getenv("UNDERSTAGE_RECORD_SCAFFOLDER"), os.Getenv("UNDERSTAGE_GENERATE")
	if base == "" || spec == "" {
		t.Skip("set UNDERSTAGE_RECORD_SCAFFOLDER and UNDERSTAGE_GENERATE=seed:count:mode to compare generated templates with the oracle")
	}
	parts := strings.Split(spec, ":")
	if len(parts) != 3 {
		t.Fatalf("UNDERSTAGE_GENERATE=%q: want seed:count:mode", spec)
	}
	seed, err1 := strconv.ParseUint(parts[0], 10, 64)
	count, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("UNDERSTAGE_GENERATE=%q: want seed:count:mode", spec)
	}
	g := &generator{r: rand.New(rand.NewPCG(seed, seed)), mode: parts[2]}
	c := &corpusFile{Values: loadCorpus(t).Values}
	for i := range count {
		c.Entries = append(c.Entries, g.entry(i))
	}
	recordEntries(t, base, c)
	values, err := ojson.Decode(c.Values)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, e := range c.Entries {
		var want expectation
		if err := json.Unmarshal(e.Expected, &want); err != nil {
			t.Fatal(err)
		}
		got := replay(context.Background(), e, values)
		if !sameExpectation(got, want) {
			bad++
			entry, _ := json.Marshal(e)
			gb, _ := json.Marshal(got)
			t.Errorf("%s\n got  %s", entry, gb)
		}
	}
	t.Logf("%d of %d generated templates match the oracle", count-bad, count)
}

type generator struct {
	r    *rand.Rand
	mode string
}

func (g *generator) pick(list ...string) string { return list[g.r.IntN(len(list))] }

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

var genAtoms = []string{"values.name", "values.n", "values.f", "values.neg", "values.zero", "values.t", "values.fl",
	"values.nul", "values.missing", "values.arr", "values.strs", "values.obj", "values.users", "values.html",
	"values.text", "values.empty", "values.long", "values.num_str", "values.spaced", "values.csv", "values.port",
	`"str"`, `'q'`, "1", "2.5", "-3", "0", "true", "false", "none", `[1, "a"]`, "{a: 1}", "values.users[0]",
	"values.nested.a", "values.users[1].name", "values.arr[0]", "values.strs[-1]"}

var genFilters = []string{"lower", "upper", "title", "capitalize", "trim", "length", "first", "last", "reverse",
	"sort", "string", "int", "float", "abs", "round", "dump", "safe", "escape", "list", `join(",")`, "join",
	`default("d")`, `default("d", true)`, `replace("a", "b")`, `replace("e", "")`, "truncate(5)", "indent(2)",
	"center(9)", "wordcount", "urlencode", "striptags", "nl2br", "sum", "batch(2)", "slice(2)", "e",
	`select("odd")`, `reject("odd")`, `selectattr("admin")`, `map(attribute="name")`, `groupby("age")`,
	"dictsort", "first | upper", "int + 1", "dump(2)", `replace(r/[aeiou]/g, "_")`, "parseEntityRef",
	`pick("name")`, "projectSlug", "parseRepoUrl", "indent(4, true)", `truncate(5, true, "..")`,
	`round(1, "floor")`, "sort(true)", `sort(attribute="name")`, `slice(3, "x")`, `batch(2, "x")`,
	`dictsort(true, "value")`, `join(",", "name")`, `sum(attribute="age", start=10)`, `replace("a", "b", 1)`,
	`int("x")`, "int(7, 16)", "default(none)", "forceescape", "urlize", `rejectattr("admin")`,
	`selectattr("age", "gt", 26)`, `replace("", "-")`, `indent("--")`, `dump("  ")`}

var genMethods = []string{`.split(" ")`, `.split(",", 1)`, `.replace("e", "E")`, ".slice(1)", ".slice(-2)",
	`.indexOf("e")`, `.concat("x")`, `.join("-")`, ".at(-1)", ".includes(1)", ".toFixed(2)", ".toUpperCase()",
	".trim()", `.startsWith("M")`, ".charAt(1)", ".substring(1, 3)", ".toString()", ".flat()", ".length",
	".keys()", ".items()", `.get("a")`, ".count(1)", `.index("b")`, ".toPrecision(3)", ".padStart(5)"}

var genOps = []string{"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "===", "!==", "<", ">", "<=", ">=",
	"and", "or", "in", "not in"}

var genTests = []string{"defined", "undefined", "none", "null", "string", "number", "odd", "even",
	"divisibleby(2)", "iterable", "mapping", "truthy", "falsy", "callable", "lower", "upper", "eq(3)", "gt(1)"}

func (g *generator) expr(depth int) string {
	if g.mode == "layout" {
		return g.pick("values.name", "values.t", "values.fl", "values.n", "values.strs", "values.missing",
			"values.empty", "values.name | lower", "values.n > 1", `"s"`)
	}
	r := g.r.Float64()
	switch {
	case depth > 2 || r < 0.3:
		return g.pick(genAtoms...)
	case r < 0.45:
		return g.expr(depth+1) + " | " + g.pick(genFilters...)
	case r < 0.55:
		return g.pick(genAtoms...) + g.pick(genMethods...)
	case r < 0.75:
		return g.expr(depth+1) + " " + g.pick(genOps...) + " " + g.expr(depth+1)
	case r < 0.82:
		return "(" + g.expr(depth+1) + ")"
	case r < 0.88:
		return g.expr(depth+1) + " is " + g.pick("", "not ") + g.pick(genTests...)
	case r < 0.93:
		e := g.expr(depth+1) + " if " + g.expr(depth+1)
		if g.chance(0.5) {
			e += " else " + g.expr(depth+1)
		}
		return e
	case r < 0.96:
		return "not " + g.expr(depth+1)
	}
	return "-" + g.expr(depth+1)
}

func (g *generator) tag(body string) string {
	l, r := "{%", "%}"
	if g.chance(0.3) {
		l += "-"
	}
	if g.chance(0.3) {
		r = "-" + r
	}
	return l + " " + body + " " + r
}

func (g *generator) variable(e string, cookie bool) string {
	open := "${{"
	if cookie {
		open = "{{"
	}
	return open + g.pick("", " ", "-") + " " + e + " " + g.pick("", "-") + "}}"
}

func (g *generator) lines(depth int, cookie bool, indent string) []string {
	var out []string
	for range 1 + g.r.IntN(4) {
		in := indent + g.pick("", "  ", "    ", "\t")
		r := g.r.Float64()
		switch {
		case r < 0.35 || depth > 2:
			out = append(out, in+g.pick("x: ", "- ", "", " ", "text ")+g.variable(g.expr(0), cookie)+g.pick("", "  ", " y"))
		case r < 0.55:
			out = append(out, in+g.tag("if "+g.expr(0)))
			out = append(out, g.lines(depth+1, cookie, in)...)
			if g.chance(0.4) {
				out = append(out, in+g.tag(g.pick("else", "elif "+g.expr(0))))
				out = append(out, g.lines(depth+1, cookie, in)...)
			}
			out = append(out, in+g.tag("endif"))
		case r < 0.7:
			out = append(out, in+g.tag("for "+g.pick("item", "k, v")+" in "+g.pick("values.strs", "values.users",
				"values.obj", "values.arr", "values.name", "values.missing", "[]", "range(3)")))
			out = append(out, g.lines(depth+1, cookie, in)...)
			if g.chance(0.2) {
				out = append(out, in+g.tag("else"))
				out = append(out, g.lines(depth+1, cookie, in)...)
			}
			out = append(out, in+g.tag("endfor"))
		case r < 0.8:
			show := "${{ v }}"
			if cookie {
				show = "{{ v }}"
			}
			out = append(out, in+g.tag("set v = "+g.expr(0))+g.pick("", show))
		case r < 0.87:
			out = append(out, in+"{#"+g.pick("", "-")+" c "+g.pick("", "-")+"#}"+g.pick("", " t"))
		case r < 0.9:
			out = append(out, in+g.tag("raw")+g.pick("{{ a }}", "${{ b }}", "\n  z\n")+"{% endraw %}"+g.pick("", "  "))
		case r < 0.96:
			// A macro, or a call block, declared and used here.
			name := g.pick("m", "n")
			out = append(out, in+g.tag("macro "+name+"("+g.pick("", "a", "a, b=values.n", "a=1")+")"))
			out = append(out, g.lines(depth+2, cookie, in)...)
			out = append(out, in+g.tag("endmacro"))
			call := name + "(" + g.pick("", "1", `"x", 2`, "b=3") + ")"
			if g.chance(0.5) {
				out = append(out, in+g.variable(call+g.pick("", " | upper", " | length"), cookie))
			} else {
				out = append(out, in+g.tag("call "+call), in+"  body", in+g.tag("endcall"))
			}
		default:
			out = append(out, in+g.pick("plain", "  ", "", "key: value"))
		}
	}
	return out
}

func (g *generator) entry(i int) corpusEntry {
	if g.mode == "value" {
		e := strings.ReplaceAll(g.expr(0), "values.", "parameters.")
		return corpusEntry{ID: fmt.Sprintf("v%04d", i), Kind: "value", Template: "${{ " + e + " }}"}
	}
	cookie := g.chance(0.15)
	opts := &corpusOptions{CookiecutterCompat: cookie, TrimBlocks: g.chance(0.35), LstripBlocks: g.chance(0.35)}
	nl := "\n"
	if g.chance(0.1) {
		nl = "\r\n"
	}
	tmpl := strings.Join(g.lines(0, cookie, ""), nl) + g.pick("", nl, nl+nl, "  ")
	if cookie {
		tmpl = strings.ReplaceAll(tmpl, "values.", "cookiecutter.")
	}
	return corpusEntry{ID: fmt.Sprintf("g%04d", i), Kind: "file", Template: tmpl, Options: opts}
}
