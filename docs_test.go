package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"dosignin/doclient"
)

// The documents say what the code does; these tests keep them saying it
// when the code changes (docs/TUTORIAL.md has its own, in tutorial_test.go).

// TestREADMEDocumentsEveryVariable checks that every environment variable
// config.go reads is in the README's configuration table and in
// .env.example, with a comment above it there.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	vars := configVariables(t)
	if len(vars) < 15 {
		t.Fatalf("found only %d variables in config.go: %v", len(vars), vars)
	}
	readme := readDoc(t, "README.md")
	example := readDoc(t, ".env.example")
	for _, v := range vars {
		if !regexp.MustCompile("(?m)^\\|[^|\\n]*`" + v + "`").MatchString(readme) {
			t.Errorf("README.md's configuration table has no row for %s", v)
		}
		if !regexp.MustCompile(`(?m)^(# )?` + v + `=`).MatchString(example) {
			t.Errorf(".env.example does not list %s", v)
		}
	}

	// Each variable line is under a comment that says what it is for:
	// the nearest line above it that is not a variable is a comment.
	lines := strings.Split(example, "\n")
	setting := regexp.MustCompile(`^(# )?[A-Z][A-Z0-9_]*=`)
	for i, line := range lines {
		if !setting.MatchString(line) {
			continue
		}
		j := i - 1
		for j >= 0 && setting.MatchString(lines[j]) {
			j--
		}
		if j < 0 || !strings.HasPrefix(lines[j], "#") {
			t.Errorf(".env.example line %d, %q, has no comment above it", i+1, line)
		}
		if name, _, _ := strings.Cut(strings.TrimPrefix(line, "# "), "="); !slices.Contains(vars, name) {
			t.Errorf(".env.example line %d sets %s, which config.go does not read", i+1, name)
		}
	}
}

// configVariables returns the environment variables config.go reads: the
// upper-case string literals passed to a call (env("PORT"),
// durationVar(env, "SESSION_MAX_AGE", ...)), prefixes like "SANDBOX_"
// excluded.
func configVariables(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^[A-Z][A-Z0-9_]*[A-Z0-9]$`)
	var vars []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		for _, arg := range call.Args {
			lit, ok := arg.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && name.MatchString(s) && !slices.Contains(vars, s) {
				vars = append(vars, s)
			}
		}
		return true
	})
	return vars
}

// TestREADMESecurityTableNamesEveryTest checks docs/SECURITY.md's table
// against the tests: every TestSecurityNN function is named in the row
// numbered NN, every test the table names exists, and every row has one.
func TestREADMESecurityTableNamesEveryTest(t *testing.T) {
	tests := map[string]bool{}
	testName := regexp.MustCompile(`^TestSecurity(\d\d)\w+$`)
	for _, dir := range []string{".", "handlers"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, path := range paths {
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && testName.MatchString(fn.Name.Name) {
					tests[fn.Name.Name] = true
				}
			}
		}
	}
	if len(tests) < 30 {
		t.Fatalf("found only %d TestSecurity functions", len(tests))
	}

	named := map[string]bool{}
	row := regexp.MustCompile(`(?m)^\| (\d+) \|.*$`)
	inRow := regexp.MustCompile("`(TestSecurity\\w+)`")
	doc := readDoc(t, "docs/SECURITY.md")
	start := strings.Index(doc, "| # | Protection |")
	if start < 0 {
		t.Fatal("docs/SECURITY.md has no table of protections")
	}
	table, _, _ := strings.Cut(doc[start:], "\n\n")
	rows := row.FindAllStringSubmatch(table, -1)
	if len(rows) < 25 {
		t.Fatalf("found only %d numbered rows in docs/SECURITY.md", len(rows))
	}
	for _, r := range rows {
		num, _ := strconv.Atoi(r[1])
		want := "TestSecurity" + strconv.Itoa(100 + num)[1:]
		found := inRow.FindAllStringSubmatch(r[0], -1)
		if len(found) == 0 {
			t.Errorf("docs/SECURITY.md's protection %d names no test", num)
		}
		for _, m := range found {
			named[m[1]] = true
			switch {
			case !tests[m[1]]:
				t.Errorf("docs/SECURITY.md's protection %d names %s, which no test file declares", num, m[1])
			case !strings.HasPrefix(m[1], want):
				t.Errorf("docs/SECURITY.md's protection %d names %s, a test of another number", num, m[1])
			}
		}
	}
	for name := range tests {
		if !named[name] {
			t.Errorf("%s is not in docs/SECURITY.md's table", name)
		}
	}
}

// TestREADMEQuotesTheCodesFigures does for the README and docs/SECURITY.md
// what TestTutorialQuotesTheCodesFigures does for the tutorial.
func TestREADMEQuotesTheCodesFigures(t *testing.T) {
	c := newConstants(t)
	checkFigures(t, "README.md", []docFigure{
		{"main defaultSandboxTokenTTL", c.value("main", "defaultSandboxTokenTTL", time.Minute), `sandbox's tokens last (\w+) minutes`},
		{"doclient RefreshMargin", c.value("doclient", "RefreshMargin", time.Minute), `less than (\w+) minutes? left`},
		{"doclient RefreshMargin", c.value("doclient", "RefreshMargin", time.Minute), `expires within (\w+) minutes? is refreshed`},
		{"handlers loginTTL", c.value("handlers", "loginTTL", time.Minute), `(\w+)-minute encrypted login cookie`},
		{"doclient CodeShareWindow", c.value("doclient", "CodeShareWindow", time.Second), `within (\w+) seconds shares that one request`},
		{"doclient dropletsPerPage", c.value("doclient", "dropletsPerPage", 1), `per_page=(\d+)`},
		{"doclient pageConcurrency", c.value("doclient", "pageConcurrency", 1), `at most (\w+) at a time`},
		{"handlers rowsPerPage", c.value("handlers", "rowsPerPage", 1), `(\d+) rows a page`},
		{"handlers justRefreshed", c.value("handlers", "justRefreshed", time.Second), `second press within (\w+) seconds`},
		{"handlers/flow MaxEvents", c.value("handlers/flow", "MaxEvents", 1), `the last events \(at most (\w+)`},
		{"handlers confirmTTL", c.value("handlers", "confirmTTL", time.Minute), `one-time token \(also in a (\w+)-minute cookie`},
	})
	sample := strings.Repeat("0123456789abcdef", 4)
	kept := func(masked string) int64 {
		head, _, _ := strings.Cut(masked, "…")
		if i := strings.LastIndex(head, "_"); i >= 0 {
			head = head[i+1:]
		}
		return int64(len(head))
	}
	checkFigures(t, "docs/SECURITY.md", []docFigure{
		{"handlers loginTTL", c.value("handlers", "loginTTL", time.Minute), `the login cookie is deleted after use and lives at most (\w+) minutes`},
		{"handlers justRefreshed", c.value("handlers", "justRefreshed", time.Second), `a press within (\w+) s of the last refresh`},
		{"doclient.MaskState", kept(doclient.MaskState(sample)), "`state` and `code` keep (\\w+) characters"},
		{"doclient.MaskCode", kept(doclient.MaskCode(sample)), "`state` and `code` keep (\\w+) characters"},
		{"doclient.MaskChallenge", kept(doclient.MaskChallenge(sample)), "`code_challenge` (\\w+), tokens"},
		{"doclient.MaskToken", kept(doclient.MaskToken("doo_v1_" + sample)), `tokens their prefix and (\w+),`},
		{"handlers/flow MaxEvents", c.value("handlers/flow", "MaxEvents", 1), `the last events \(at most (\w+)`},
		{"doclient CodeShareWindow", c.value("doclient", "CodeShareWindow", time.Second), `A code exchanged more than (\w+) seconds ago`},
		{"doclient CodeSpentFor", c.value("doclient", "CodeSpentFor", time.Minute), `without a token request for (\w+) minutes`},
		{"doclient DefaultTimeout", c.value("doclient", "DefaultTimeout", time.Second), `past the (\d+) s timeout`},
		{"doclient DefaultTimeout", c.value("doclient", "DefaultTimeout", time.Second), `no answer within (\d+) s`},
	})
}

// TestREADMELinksResolve checks the links between the documents: every
// relative link in README.md and docs/*.md names a file that exists, and
// every #anchor a heading of its document, as GitHub makes them.
func TestREADMELinksResolve(t *testing.T) {
	docs, _ := filepath.Glob("docs/*.md")
	docs = append(docs, "README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := headingAnchors(readDoc(t, path))
		anchors[path] = a
		return a
	}
	links := 0
	for _, doc := range docs {
		for _, m := range link.FindAllStringSubmatch(withoutCode(readDoc(t, doc)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			path, anchor, _ := strings.Cut(target, "#")
			file := doc
			if path != "" {
				file = filepath.Join(filepath.Dir(doc), path)
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s links to %s: %v", doc, target, err)
					continue
				}
			}
			if anchor != "" && strings.HasSuffix(file, ".md") && !anchorsOf(file)[anchor] {
				t.Errorf("%s links to %s, but %s has no heading with the anchor #%s", doc, target, file, anchor)
			}
		}
	}
	if links < 20 {
		t.Errorf("found only %d relative links in the documents", links)
	}
}

// headingAnchors returns the anchors GitHub gives a Markdown document's
// headings: lower case, spaces made hyphens, punctuation dropped, and a
// repeated one numbered.
func headingAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range strings.Split(withoutCode(doc), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// withoutCode blanks a Markdown document's fenced code blocks, whose lines
// are neither headings nor links.
func withoutCode(doc string) string {
	lines := strings.Split(doc, "\n")
	in := false
	for i, line := range lines {
		if strings.HasPrefix(line, "```") {
			in = !in
			lines[i] = ""
			continue
		}
		if in {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
