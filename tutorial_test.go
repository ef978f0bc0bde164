package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
	dirs := map[string]string{"main": ".", "handlers": "handlers", "doclient": "doclient", "sandbox": "sandbox"}
	for pkg, dir := range dirs {
		for name := range declaredNames(t, dir) {
			known[pkg+"."+name] = true
		}
	}

	code := regexp.MustCompile("`([^`\n]+)`")
	ident := regexp.MustCompile(`^(main|handlers|doclient|sandbox)\.[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$`)
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
