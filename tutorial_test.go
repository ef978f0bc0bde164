package main

import (
	"encoding/base64"
	"errors"
	"fmt"
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
	"unicode/utf8"

	"golang.org/x/oauth2"

	"dosignin/doclient"
)

// TestTutorialNamesRealIdentifiers keeps docs/TUTORIAL.md honest: every Go
// identifier it names as `package.Name` or `package.Type.Method`, and every
// file it names, exists in the code. A rename that forgets the tutorial
// fails here.
func TestTutorialNamesRealIdentifiers(t *testing.T) {
	doc, err := os.ReadFile("docs/TUTORIAL.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	dirs := map[string]string{"main": ".", "handlers": "handlers", "handlers/flow": "handlers/flow", "learn": "handlers/learn", "doclient": "doclient", "sandbox": "sandbox"}
	for pkg, dir := range dirs {
		for name := range declaredNames(t, dir) {
			known[pkg+"."+name] = true
		}
	}

	code := regexp.MustCompile("`([^`\n]+)`")
	ident := regexp.MustCompile(`^(main|handlers|learn|doclient|sandbox)\.[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$`)
	file := regexp.MustCompile(`^[\w/.-]+\.go$`)
	names, files := 0, 0
	for _, m := range code.FindAllStringSubmatch(string(doc), -1) {
		s := m[1]
		switch {
		case ident.MatchString(s):
			names++
			if !known[s] {
				t.Errorf("docs/TUTORIAL.md names %s, which the code does not declare", s)
			}
		case file.MatchString(s):
			files++
			if _, err := os.Stat(s); err != nil {
				t.Errorf("docs/TUTORIAL.md names the file %s: %v", s, err)
			}
		}
	}
	// The tutorial names each step's function: if the pattern stopped
	// matching, this test would check nothing.
	if names < 30 || files < 2 {
		t.Errorf("found only %d identifiers and %d files in docs/TUTORIAL.md", names, files)
	}
	for _, want := range []string{"```mermaid\nsequenceDiagram", "doclient.Client.AuthCodeURL", "handlers.Server.handleCallback", "doclient.Client.Exchange", "handlers.sessionStore.start"} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/TUTORIAL.md lacks %q", want)
		}
	}
}

// declaredNames returns the top-level names of the package in dir (tests
// excluded): functions, types, constants, variables, and methods as
// Type.Method.
func declaredNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	fset := token.NewFileSet()
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					names[d.Name.Name] = true
					continue
				}
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					names[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no declarations in %s", dir)
	}
	return names
}

// docFigure is a figure that a document quotes from the code: the value the
// code has (in the unit the document counts in) and a pattern for the
// sentence that quotes it, whose first group is the figure as written ("8",
// "two", "a").
type docFigure struct {
	what   string // where the figure lives, for the failure message
	value  int64
	phrase string // a regexp over the document with its whitespace collapsed
}

// TestTutorialQuotesTheCodesFigures keeps the figures docs/TUTORIAL.md
// quotes in step with the constants and functions they come from: how many
// pages are fetched at once, the page size, lifetimes, margins, limits and
// what the masks keep. A changed constant, or a wrong figure in the
// tutorial, fails here; so does a sentence that no longer quotes its figure.
func TestTutorialQuotesTheCodesFigures(t *testing.T) {
	mask := func(masked string) int64 {
		head, _, _ := strings.Cut(masked, "…")
		return int64(utf8.RuneCountInString(head))
	}
	sample := strings.Repeat("0123456789abcdef", 4)
	verifier := oauth2.GenerateVerifier()
	raw, err := base64.RawURLEncoding.DecodeString(verifier)
	if err != nil {
		t.Fatalf("oauth2.GenerateVerifier gave %q: %v", verifier, err)
	}
	c := newConstants(t)
	checkFigures(t, "docs/TUTORIAL.md", []docFigure{
		{"doclient pageConcurrency", c.value("doclient", "pageConcurrency", 1), `at most (\w+) at a time`},
		{"doclient dropletsPerPage", c.value("doclient", "dropletsPerPage", 1), `per_page=(\d+) HTTP/1\.1`}, // the app's listing, not the learn pages' per_page=1
		{"doclient dropletsPerPage", c.value("doclient", "dropletsPerPage", 1), `More than (\d+) droplets take more pages`},
		{"handlers loginTTL", c.value("handlers", "loginTTL", time.Minute), `(\w+)-minute encrypted login cookie`},
		{"main defaultSandboxTokenTTL", c.value("main", "defaultSandboxTokenTTL", time.Second), `"expires_in": (\d+),`},
		{"main defaultSandboxTokenTTL", c.value("main", "defaultSandboxTokenTTL", time.Minute), `the sandbox's tokens last (\w+) minutes`},
		{"main defaultSandboxTokenTTL", c.value("main", "defaultSandboxTokenTTL", time.Minute), `wait longer than (\w+) minutes`},
		{"doclient RefreshMargin", c.value("doclient", "RefreshMargin", time.Minute), "`doclient.RefreshMargin` \\((\\w+) minutes?\\)"},
		{"doclient RefreshMargin", c.value("doclient", "RefreshMargin", time.Minute), `with less than (\w+) minutes? left`},
		{"doclient CodeShareWindow", c.value("doclient", "CodeShareWindow", time.Second), `callback twice within (\w+) seconds`},
		{"handlers justRefreshed", c.value("handlers", "justRefreshed", time.Second), `second press within (\w+) seconds`},
		{"handlers/flow MaxEvents", c.value("handlers/flow", "MaxEvents", 1), `the last events \(at most (\w+)`},
		{"handlers rowsPerPage", c.value("handlers", "rowsPerPage", 1), `(\d+) rows a page`},
		{"main defaultRateLimit", c.value("main", "defaultRateLimit", 1), `Ratelimit-Limit: (\d+)`},
		{"main defaultSandboxDroplets", c.value("main", "defaultSandboxDroplets", 1), `"meta": \{"total": (\d+)\}`},
		{"doclient.MaskState", mask(doclient.MaskState(sample)), "`doclient.MaskState` \\(first (\\w+) characters\\)"},
		{"doclient.MaskChallenge", mask(doclient.MaskChallenge(sample)), "`doclient.MaskChallenge` \\(first (\\w+)\\)"},
		{"doclient.MaskCode", mask(doclient.MaskCode(sample)), "`doclient.MaskCode` \\(first (\\w+) and the length\\)"},
		{"oauth2.GenerateVerifier's length", int64(len(verifier)), `the (\d+)-character PKCE verifier`},
		{"oauth2.GenerateVerifier's bytes", int64(len(raw)), "`oauth2.GenerateVerifier`, (\\w+) random bytes"},
		{"learn QuickCodeTTL", c.value("learn", "QuickCodeTTL", time.Second), `codes expire after (\d+) seconds`},
		{"learn QuickCodeTTL", c.value("learn", "QuickCodeTTL", time.Second), `a code that expires in (\d+) seconds`},
		{"learn ShareFor", c.value("learn", "ShareFor", time.Second), `within (\w+) seconds of each other`},
		{"handlers loginTTL", c.value("handlers", "loginTTL", time.Minute), `it lasts (\w+) minutes after your last press`},
		{"sandbox codeTTL", c.value("sandbox", "codeTTL", time.Minute), `The sandbox's codes live (\w+) minutes`},
	})

	// The token mask is quoted as an example: it must be what MaskToken
	// makes of a token that starts that way.
	doc := collapsedDoc(t, "docs/TUTORIAL.md")
	m := regexp.MustCompile("`doclient.MaskToken` \\(`([^`]+)`\\)").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/TUTORIAL.md no longer shows what doclient.MaskToken makes of a token")
	}
	if got := doclient.MaskToken(strings.TrimSuffix(m[1], "…") + sample); got != m[1] {
		t.Errorf("docs/TUTORIAL.md shows doclient.MaskToken as %q, but it makes %q", m[1], got)
	}
}

// checkFigures checks every sentence of doc that matches a figure's phrase:
// there must be at least one, and each must quote the code's value.
func checkFigures(t *testing.T, doc string, figures []docFigure) {
	t.Helper()
	text := collapsedDoc(t, doc)
	for _, f := range figures {
		re := regexp.MustCompile(f.phrase)
		matches := re.FindAllStringSubmatch(text, -1)
		if len(matches) == 0 {
			t.Errorf("%s no longer has a sentence matching %q, which quotes %s (%d)", doc, f.phrase, f.what, f.value)
			continue
		}
		for _, m := range matches {
			n, ok := parseFigure(m[1])
			switch {
			case !ok:
				t.Errorf("%s says %q: %q is not a figure this test can read", doc, m[0], m[1])
			case n != f.value:
				t.Errorf("%s says %q, but %s is %d", doc, m[0], f.what, f.value)
			}
		}
	}
}

// collapsedDoc reads a document with every run of whitespace made one
// space, so that a phrase matches across the document's line breaks.
func collapsedDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// parseFigure reads a figure as prose writes it: digits, or a number word.
func parseFigure(s string) (int64, bool) {
	words := []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"}
	switch w := strings.ToLower(s); {
	case w == "a" || w == "an":
		return 1, true
	case slices.Contains(words, w):
		return int64(slices.Index(words, w)), true
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	return n, err == nil
}

// constants evaluates the constants declared in the app's packages from
// their source, so that a test can read unexported ones (and does not
// depend on what a package exports).
type constants struct {
	t    *testing.T
	dirs map[string]string              // package name -> directory
	decl map[string]map[string]ast.Expr // package -> constant -> expression
}

func newConstants(t *testing.T) *constants {
	return &constants{t: t, dirs: map[string]string{"main": ".", "handlers": "handlers", "handlers/flow": "handlers/flow", "learn": "handlers/learn", "doclient": "doclient", "sandbox": "sandbox"}, decl: map[string]map[string]ast.Expr{}}
}

// value returns the constant name of package pkg divided by unit (1 for a
// plain number, time.Minute for a duration quoted in minutes); a value that
// is not a whole number of units fails the test.
func (c *constants) value(pkg, name string, unit time.Duration) int64 {
	c.t.Helper()
	v, err := c.eval(pkg, name, 0)
	if err != nil {
		c.t.Fatalf("reading %s.%s: %v", pkg, name, err)
	}
	if v%int64(unit) != 0 {
		c.t.Fatalf("%s.%s is %d, not a whole number of %s", pkg, name, v, unit)
	}
	return v / int64(unit)
}

func (c *constants) eval(pkg, name string, depth int) (int64, error) {
	if depth > 10 {
		return 0, fmt.Errorf("%s.%s: constants refer to each other too deeply", pkg, name)
	}
	decls, err := c.decls(pkg)
	if err != nil {
		return 0, err
	}
	e, ok := decls[name]
	if !ok {
		return 0, fmt.Errorf("package %s declares no constant %s", pkg, name)
	}
	return c.expr(pkg, e, depth)
}

// expr evaluates the integer constant expressions the app's constants use:
// literals, + - * / <<, parentheses, other constants, and time's units.
func (c *constants) expr(pkg string, e ast.Expr, depth int) (int64, error) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.INT {
			return 0, fmt.Errorf("%s is not an integer", e.Value)
		}
		return strconv.ParseInt(e.Value, 0, 64)
	case *ast.ParenExpr:
		return c.expr(pkg, e.X, depth)
	case *ast.Ident:
		return c.eval(pkg, e.Name, depth+1)
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		if !ok {
			return 0, fmt.Errorf("cannot evaluate %T", e.X)
		}
		if x.Name == "time" {
			units := map[string]time.Duration{"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond, "Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
			if u, ok := units[e.Sel.Name]; ok {
				return int64(u), nil
			}
		}
		return c.eval(x.Name, e.Sel.Name, depth+1)
	case *ast.BinaryExpr:
		a, err := c.expr(pkg, e.X, depth)
		if err != nil {
			return 0, err
		}
		b, err := c.expr(pkg, e.Y, depth)
		if err != nil {
			return 0, err
		}
		switch e.Op {
		case token.ADD:
			return a + b, nil
		case token.SUB:
			return a - b, nil
		case token.MUL:
			return a * b, nil
		case token.QUO:
			if b == 0 {
				return 0, errors.New("division by zero")
			}
			return a / b, nil
		case token.SHL:
			return a << b, nil
		}
		return 0, fmt.Errorf("cannot evaluate the operator %s", e.Op)
	}
	return 0, fmt.Errorf("cannot evaluate %T", e)
}

// decls returns the top-level constants of package pkg (tests excluded)
// with their expressions.
func (c *constants) decls(pkg string) (map[string]ast.Expr, error) {
	if d, ok := c.decl[pkg]; ok {
		return d, nil
	}
	dir, ok := c.dirs[pkg]
	if !ok {
		return nil, fmt.Errorf("no directory known for package %s", pkg)
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	fset := token.NewFileSet()
	d := map[string]ast.Expr{}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				s := spec.(*ast.ValueSpec)
				for i, n := range s.Names {
					if i < len(s.Values) {
						d[n.Name] = s.Values[i]
					}
				}
			}
		}
	}
	c.decl[pkg] = d
	return d, nil
}
