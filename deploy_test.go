package main

// Tests for the deployment files: Dockerfile, .dockerignore,
// docker-compose.yml and the App Platform specs in .do/. None of them can be
// built or deployed here (there is no container engine in CI), so these tests
// read them and check the properties that matter: a small, non-root,
// self-checking image with no secrets in it, and app specs that App Platform
// accepts and that match what the app expects (port, health check, secrets,
// callback URL).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// secretName matches variable names whose value must never be baked into an
// image or committed: the OAuth credentials, SESSION_SECRET, tokens, keys.
var secretName = regexp.MustCompile(`(?i)SECRET|TOKEN|PASSWORD|PASSWD|CLIENT_ID|API_KEY|PRIVATE_KEY|CREDENTIAL`)

// readRepoFile returns a file of the repository, failing the test if it's missing.
func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

// ---------------------------------------------------------------- Dockerfile

// dfInstruction is one Dockerfile instruction, continuation lines joined.
type dfInstruction struct {
	line  int      // where it starts, for error messages
	cmd   string   // upper case: FROM, RUN, COPY...
	flags []string // leading --flags, e.g. --from=build or --mount=...
	args  string   // the rest, as written
}

func (in dfInstruction) String() string {
	return fmt.Sprintf("line %d: %s %s", in.line, in.cmd, in.args)
}

// dockerfile is a parsed Dockerfile: its build stages in order.
type dockerfile struct {
	global []dfInstruction   // ARGs before the first FROM
	stages [][]dfInstruction // each stage starts with its FROM
}

func (df dockerfile) final() []dfInstruction { return df.stages[len(df.stages)-1] }

// findCmd returns the instructions of a stage named cmd.
func findCmd(stage []dfInstruction, cmd string) []dfInstruction {
	var out []dfInstruction
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile is just enough of the Dockerfile syntax for these tests:
// comments, blank lines, backslash continuations (comment lines inside them
// are dropped, as Docker does) and leading --flags. It doesn't handle the
// escape directive or heredocs, which our Dockerfile doesn't use.
func parseDockerfile(src string) (dockerfile, error) {
	var df dockerfile
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := dfInstruction{line: start, cmd: strings.ToUpper(cmd)}
		fields := strings.Fields(rest)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			in.flags = append(in.flags, fields[0])
			fields = fields[1:]
		}
		in.args = strings.Join(fields, " ")
		if in.cmd == "FROM" {
			df.stages = append(df.stages, nil)
		}
		if len(df.stages) == 0 {
			if in.cmd != "ARG" { // only an ARG may come before the first FROM
				return df, fmt.Errorf("line %d: %s before the first FROM", start, in.cmd)
			}
			df.global = append(df.global, in)
			continue
		}
		df.stages[len(df.stages)-1] = append(df.stages[len(df.stages)-1], in)
	}
	if cur.Len() > 0 {
		return df, fmt.Errorf("line %d: the file ends inside a \\ continuation", start)
	}
	if len(df.stages) == 0 {
		return df, errors.New("no FROM dfInstruction")
	}
	return df, sc.Err()
}

// dockerExecForm parses the JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK.
// The image has no shell, so the shell form would not run at all.
func dockerExecForm(args string) ([]string, error) {
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil || len(argv) == 0 {
		return nil, fmt.Errorf("%q is not in exec form (a JSON array such as [\"/dosignin\"]): the image has no shell", args)
	}
	return argv, nil
}

// goBuildStep returns the RUN instruction of a build stage that runs `go build`.
func goBuildStep(df dockerfile) (dfInstruction, error) {
	for _, stage := range df.stages[:len(df.stages)-1] {
		for _, in := range findCmd(stage, "RUN") {
			if strings.Contains(in.args, "go build") {
				return in, nil
			}
		}
	}
	return dfInstruction{}, errors.New("no `go build` RUN in a build stage")
}

// copySources returns the source arguments of a COPY or ADD (all but the
// last, the destination).
func copySources(in dfInstruction) []string {
	f := strings.Fields(in.args)
	if len(f) < 2 {
		return nil
	}
	return f[:len(f)-1]
}

// dockerfileRule is one property the Dockerfile must have. ignore is the
// .dockerignore pattern list, for the rules that depend on it.
type dockerfileRule struct {
	name  string
	check func(df dockerfile, ignore []string) error
}

var dockerfileRules = []dockerfileRule{
	{"multi-stage", func(df dockerfile, _ []string) error {
		if len(df.stages) < 2 {
			return fmt.Errorf("%d FROM stage(s), want a build stage and a final stage: the Go toolchain must not ship in the image", len(df.stages))
		}
		return nil
	}},
	{"static stripped build", func(df dockerfile, _ []string) error {
		run, err := goBuildStep(df)
		if err != nil {
			return err
		}
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`} {
			if !strings.Contains(run.args, want) {
				return fmt.Errorf("%s: missing %s", run, want)
			}
		}
		return nil
	}},
	{"distroless or scratch final image", func(df dockerfile, _ []string) error {
		from := df.final()[0]
		image := strings.Fields(from.args)[0]
		if image == "scratch" || (strings.HasPrefix(image, "gcr.io/distroless/static") && strings.HasSuffix(image, ":nonroot")) {
			return nil
		}
		return fmt.Errorf("%s: the final image should be gcr.io/distroless/static...:nonroot or scratch (no shell, no package manager)", from)
	}},
	{"non-root user", func(df dockerfile, _ []string) error {
		users := findCmd(df.final(), "USER")
		if len(users) == 0 {
			return errors.New("no USER in the final stage: say who the app runs as")
		}
		last := users[len(users)-1]
		name, _, _ := strings.Cut(last.args, ":")
		if name == "" || name == "root" || name == "0" {
			return fmt.Errorf("%s: the app must not run as root", last)
		}
		return nil
	}},
	{"EXPOSE 5000", func(df dockerfile, _ []string) error {
		for _, in := range findCmd(df.final(), "EXPOSE") {
			if slices.Contains(strings.Fields(in.args), "5000") || slices.Contains(strings.Fields(in.args), "5000/tcp") {
				return nil
			}
		}
		return errors.New("the final stage does not EXPOSE 5000, the app's default PORT")
	}},
	{"exec-form HEALTHCHECK and ENTRYPOINT", func(df dockerfile, _ []string) error {
		hcs := findCmd(df.final(), "HEALTHCHECK")
		if len(hcs) == 0 {
			return errors.New("no HEALTHCHECK in the final stage")
		}
		hc := hcs[len(hcs)-1]
		cmd, args, _ := strings.Cut(hc.args, " ")
		if strings.ToUpper(cmd) != "CMD" {
			return fmt.Errorf("%s: want HEALTHCHECK [options] CMD [...]", hc)
		}
		probe, err := dockerExecForm(args)
		if err != nil {
			return fmt.Errorf("%s: %v", hc, err)
		}
		if probe[len(probe)-1] != "healthcheck" {
			return fmt.Errorf("%s: want the app's own `healthcheck` subcommand", hc)
		}
		eps := findCmd(df.final(), "ENTRYPOINT")
		if len(eps) == 0 {
			return errors.New("no ENTRYPOINT in the final stage")
		}
		ep, err := dockerExecForm(eps[len(eps)-1].args)
		if err != nil {
			return fmt.Errorf("%s: %v", eps[len(eps)-1], err)
		}
		if probe[0] != ep[0] {
			return fmt.Errorf("HEALTHCHECK runs %s but ENTRYPOINT is %s: the probe must be the app's own binary", probe[0], ep[0])
		}
		return nil
	}},
	{"binary path consistent", func(df dockerfile, _ []string) error {
		run, err := goBuildStep(df)
		if err != nil {
			return err
		}
		m := regexp.MustCompile(`\s-o\s+(\S+)\s+\.$`).FindStringSubmatch(run.args)
		if m == nil {
			return fmt.Errorf("%s: want `go build ... -o <path> .` (the module root is the main package)", run)
		}
		eps := findCmd(df.final(), "ENTRYPOINT")
		if len(eps) == 0 {
			return errors.New("no ENTRYPOINT in the final stage")
		}
		ep, err := dockerExecForm(eps[len(eps)-1].args)
		if err != nil {
			return err
		}
		for _, in := range findCmd(df.final(), "COPY") {
			if src := copySources(in); len(src) == 1 && src[0] == m[1] && strings.HasSuffix(in.args, " "+ep[0]) {
				return nil
			}
		}
		return fmt.Errorf("the final stage has no `COPY --from=... %s %s` putting the built binary where ENTRYPOINT runs it", m[1], ep[0])
	}},
	{".env never copied", func(df dockerfile, ignore []string) error {
		for _, stage := range df.stages {
			for _, in := range stage {
				if in.cmd != "COPY" && in.cmd != "ADD" || slices.ContainsFunc(in.flags, func(f string) bool { return strings.HasPrefix(f, "--from=") }) {
					continue
				}
				for _, src := range copySources(in) {
					base := path.Base(src)
					if base == ".env" || strings.HasPrefix(base, ".env.") {
						return fmt.Errorf("%s copies a .env file into the image", in)
					}
					// A directory or a wildcard may still pull in .env: only
					// .dockerignore can keep it out.
					if fi, err := os.Stat(src); (err == nil && fi.IsDir()) || strings.ContainsAny(src, "*?[") {
						if !dockerignoreExcludes(ignore, ".env") {
							return fmt.Errorf("%s copies a directory of the build context, and .dockerignore does not exclude .env", in)
						}
					}
				}
			}
		}
		return nil
	}},
	{"no secrets in ENV or ARG", func(df dockerfile, _ []string) error {
		for _, stage := range append([][]dfInstruction{df.global}, df.stages...) {
			for _, in := range stage {
				if in.cmd != "ENV" && in.cmd != "ARG" {
					continue
				}
				for _, kv := range strings.Fields(in.args) {
					name, _, _ := strings.Cut(kv, "=")
					// ENV values are in the image's config; ARG values in its
					// history. Secrets come at run time, from the environment.
					if secretName.MatchString(name) {
						return fmt.Errorf("%s: %s looks like a secret; pass it at run time instead", in, name)
					}
				}
			}
		}
		return nil
	}},
	{"modules downloaded before the source is copied", func(df dockerfile, _ []string) error {
		run, err := goBuildStep(df)
		if err != nil {
			return err
		}
		var stage []dfInstruction
		for _, s := range df.stages {
			if slices.ContainsFunc(s, func(in dfInstruction) bool { return in.line == run.line }) {
				stage = s
			}
		}
		// copyMod: COPY go.mod go.sum ./ (nothing else); copySrc: the first
		// other COPY, which brings in the source code.
		copyMod, download, copySrc := -1, -1, -1
		for i, in := range stage {
			src := copySources(in)
			slices.Sort(src)
			switch {
			case in.cmd == "COPY" && copyMod < 0 && slices.Equal(src, []string{"go.mod", "go.sum"}):
				copyMod = i
			case in.cmd == "COPY" && copySrc < 0:
				copySrc = i
			case in.cmd == "RUN" && download < 0 && strings.Contains(in.args, "go mod download"):
				download = i
			}
		}
		if copyMod < 0 || download < 0 || copySrc < 0 || !(copyMod < download && download < copySrc) {
			return errors.New("the build stage should COPY go.mod go.sum, RUN go mod download, and only then COPY the source (so a code change doesn't re-download every module)")
		}
		return nil
	}},
}

func loadDockerfile(t *testing.T) (dockerfile, []string) {
	t.Helper()
	df, err := parseDockerfile(readRepoFile(t, "Dockerfile"))
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	return df, parseDockerignore(readRepoFile(t, ".dockerignore"))
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	df, ignore := loadDockerfile(t)
	for _, rule := range dockerfileRules {
		t.Run(rule.name, func(t *testing.T) {
			t.Parallel()
			if err := rule.check(df, ignore); err != nil {
				t.Errorf("Dockerfile: %v", err)
			}
		})
	}
}

// TestDockerfileRulesCatchMistakes breaks the real Dockerfile one way at a
// time and expects the matching rule to notice, so a rule that can't fail
// doesn't pass unnoticed.
func TestDockerfileRulesCatchMistakes(t *testing.T) {
	t.Parallel()
	src := readRepoFile(t, "Dockerfile")
	ignore := parseDockerignore(readRepoFile(t, ".dockerignore"))
	tests := []struct {
		name     string
		rule     string
		old, new string   // replace old (which must occur) with new
		ignore   []string // instead of the real .dockerignore
	}{
		{name: "one stage", rule: "multi-stage", old: "FROM gcr.io/distroless/static-debian12:nonroot\n", new: ""},
		{name: "no -trimpath", rule: "static stripped build", old: "-trimpath ", new: ""},
		{name: "cgo on", rule: "static stripped build", old: "CGO_ENABLED=0 ", new: ""},
		{name: "debian final image", rule: "distroless or scratch final image", old: "gcr.io/distroless/static-debian12:nonroot", new: "debian:bookworm-slim"},
		{name: "USER 0", rule: "non-root user", old: "USER nonroot:nonroot", new: "USER 0:0"},
		{name: "no USER", rule: "non-root user", old: "USER nonroot:nonroot", new: ""},
		{name: "EXPOSE 8080", rule: "EXPOSE 5000", old: "EXPOSE 5000", new: "EXPOSE 8080"},
		{name: "shell-form HEALTHCHECK", rule: "exec-form HEALTHCHECK and ENTRYPOINT", old: `CMD ["/dosignin", "healthcheck"]`, new: "CMD /dosignin healthcheck"},
		{name: "probe is another binary", rule: "exec-form HEALTHCHECK and ENTRYPOINT", old: `ENTRYPOINT ["/dosignin"]`, new: `ENTRYPOINT ["/app"]`},
		{name: "binary copied elsewhere", rule: "binary path consistent", old: "COPY --from=build /out/dosignin /dosignin", new: "COPY --from=build /out/dosignin /app"},
		{name: "COPY .env", rule: ".env never copied", old: "COPY . .", new: "COPY . .\nCOPY .env ./"},
		{name: "COPY . without .dockerignore", rule: ".env never copied", old: "COPY . .", new: "COPY . .", ignore: []string{".git"}},
		{name: "ENV secret", rule: "no secrets in ENV or ARG", old: "ENV PORT=5000", new: "ENV PORT=5000 SESSION_SECRET=0123456789abcdef0123456789abcdef"},
		{name: "ARG secret", rule: "no secrets in ENV or ARG", old: "WORKDIR /src", new: "WORKDIR /src\nARG DIGITALOCEAN_CLIENT_SECRET"},
		{name: "source before modules", rule: "modules downloaded before the source is copied", old: "COPY go.mod go.sum ./", new: "COPY . ."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(src, tt.old) {
				t.Fatalf("the Dockerfile no longer contains %q: update this test's mutation", tt.old)
			}
			df, err := parseDockerfile(strings.Replace(src, tt.old, tt.new, 1))
			if err != nil {
				t.Fatalf("parse mutated Dockerfile: %v", err)
			}
			ign := ignore
			if tt.ignore != nil {
				ign = tt.ignore
			}
			i := slices.IndexFunc(dockerfileRules, func(r dockerfileRule) bool { return r.name == tt.rule })
			if i < 0 {
				t.Fatalf("no rule named %q", tt.rule)
			}
			err = dockerfileRules[i].check(df, ign)
			if err == nil {
				t.Fatalf("replacing %q with %q: rule %q found nothing wrong", tt.old, tt.new, tt.rule)
			}
			t.Logf("caught: %v", err)
		})
	}
}

// ------------------------------------------------------------- .dockerignore

// parseDockerignore returns the patterns of a .dockerignore file, cleaned the
// way Docker cleans them.
func parseDockerignore(src string) []string {
	var patterns []string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		neg := strings.HasPrefix(line, "!")
		line = strings.TrimPrefix(line, "!")
		line = strings.TrimPrefix(path.Clean(line), "/")
		if neg {
			line = "!" + line
		}
		patterns = append(patterns, line)
	}
	return patterns
}

// dockerignoreRegexp translates one pattern: * and ? stay within a path
// segment, ** spans segments (Go's filepath.Match plus **, like Docker).
func dockerignoreRegexp(pattern string) *regexp.Regexp {
	var re strings.Builder
	re.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; {
		case strings.HasPrefix(pattern[i:], "**/"):
			re.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pattern[i:], "**"):
			re.WriteString(".*")
			i++
		case c == '*':
			re.WriteString("[^/]*")
		case c == '?':
			re.WriteString("[^/]")
		default:
			re.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String())
}

// dockerignoreExcludes reports whether Docker leaves name (slash-separated,
// relative to the context) out of the build context: the last pattern that
// matches it or one of its parent directories decides, "!" re-includes.
func dockerignoreExcludes(patterns []string, name string) bool {
	excluded := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		re := dockerignoreRegexp(strings.TrimPrefix(p, "!"))
		for dir := name; dir != "."; dir = path.Dir(dir) {
			if re.MatchString(dir) {
				excluded = !neg
				break
			}
		}
	}
	return excluded
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	ignore := parseDockerignore(readRepoFile(t, ".dockerignore"))
	tests := []struct {
		name     string
		excluded bool
		why      string
	}{
		{".env", true, "it holds the OAuth client secret and SESSION_SECRET"},
		{".env.local", true, "it holds local secrets"},
		{"handlers/.env", true, "a .env anywhere holds secrets"},
		{".git", true, "history is not needed to build and may hold secrets"},
		{".git/config", true, "history is not needed to build"},
		{"go.mod", false, "the build needs it"},
		{"go.sum", false, "the build needs it"},
		{"main.go", false, "the build needs it"},
		{"config.go", false, "the build needs it"},
		{"handlers/handlers.go", false, "the build needs it"},
		{"views/base.html", false, "views are embedded in the binary"},
		{"static/style.css", false, "static files are embedded in the binary"},
		{"sandbox/templates/authorize.html", false, "the sandbox embeds its templates"},
		{"sandbox/static/sandbox.css", false, "the sandbox embeds its stylesheet"},
	}
	for _, tt := range tests {
		if got := dockerignoreExcludes(ignore, tt.name); got != tt.excluded {
			verb := map[bool]string{true: "exclude", false: "keep"}[tt.excluded]
			t.Errorf(".dockerignore must %s %s (%s); it %s it", verb, tt.name, tt.why, map[bool]string{true: "excludes", false: "keeps"}[got])
		}
	}
}

// TestDockerignoreMatcher pins the matcher the tests above rely on.
func TestDockerignoreMatcher(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		name     string
		want     bool
	}{
		{[]string{".env"}, ".env", true},
		{[]string{".env"}, "sub/.env", false}, // patterns are rooted
		{[]string{"**/.env"}, "sub/.env", true},
		{[]string{"**/.env"}, ".env", true},
		{[]string{".env*"}, ".env.local", true},
		{[]string{".env*", "!.env.example"}, ".env.example", false},
		{[]string{".git"}, ".git/HEAD", true}, // a parent directory matches
		{[]string{"*.go"}, "handlers/x.go", false},
		{[]string{"docs"}, "docs/a/b.png", true},
		{[]string{"*.test"}, "dosignin.test", true},
		{[]string{"*"}, "go.mod", true},
		{[]string{"*", "!go.mod"}, "go.mod", false},
		{nil, ".env", false},
	}
	for _, tt := range tests {
		if got := dockerignoreExcludes(parseDockerignore(strings.Join(tt.patterns, "\n")), tt.name); got != tt.want {
			t.Errorf("patterns %q, %s: excluded = %v, want %v", tt.patterns, tt.name, got, tt.want)
		}
	}
}

// ------------------------------------------------------------ docker compose

// composeService holds the fields of a Compose service the tests look at;
// those with several accepted forms (short and long syntax) stay untyped.
type composeService struct {
	Build       any   `yaml:"build"`
	Ports       []any `yaml:"ports"`
	EnvFile     any   `yaml:"env_file"`
	Environment any   `yaml:"environment"`
	Healthcheck struct {
		Test []any `yaml:"test"`
	} `yaml:"healthcheck"`
	Restart     string   `yaml:"restart"`
	ReadOnly    bool     `yaml:"read_only"`
	SecurityOpt []string `yaml:"security_opt"`
	CapDrop     []string `yaml:"cap_drop"`
	Profiles    []string `yaml:"profiles"`
	DependsOn   any      `yaml:"depends_on"`
}

// composeEnv returns a service's environment in either Compose form.
func composeEnv(env any) map[string]string {
	out := map[string]string{}
	switch env := env.(type) {
	case map[string]any:
		for k, v := range env {
			out[k] = fmt.Sprint(v)
		}
	case []any:
		for _, kv := range env {
			k, v, _ := strings.Cut(fmt.Sprint(kv), "=")
			out[k] = v
		}
	}
	return out
}

// composePorts returns the published → container port pairs, from the short
// ("5000:5000", "127.0.0.1:5000:5000") or the long syntax.
func composePorts(ports []any) map[string]string {
	out := map[string]string{}
	for _, p := range ports {
		switch p := p.(type) {
		case string:
			f := strings.Split(strings.TrimSuffix(p, "/tcp"), ":")
			if len(f) >= 2 {
				out[f[len(f)-2]] = f[len(f)-1]
			}
		case map[string]any:
			out[fmt.Sprint(p["published"])] = fmt.Sprint(p["target"])
		}
	}
	return out
}

func TestDockerCompose(t *testing.T) {
	t.Parallel()
	var file struct {
		Version  any                       `yaml:"version"`
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "docker-compose.yml")), &file); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	if file.Version != nil {
		t.Errorf("docker-compose.yml: drop the obsolete top-level version key (Compose ignores it and warns)")
	}
	app, ok := file.Services["app"]
	if !ok {
		t.Fatalf("docker-compose.yml: no service named app (services: %v)", slices.Sorted(maps.Keys(file.Services)))
	}

	var optionalDotEnv bool
	if list, ok := app.EnvFile.([]any); ok {
		for _, e := range list {
			if m, ok := e.(map[string]any); ok && m["path"] == ".env" && m["required"] == false {
				optionalDotEnv = true
			}
		}
	}
	env := composeEnv(app.Environment)
	hc := app.Healthcheck.Test

	tests := []struct {
		name string
		ok   bool
		want string
	}{
		{"build", app.Build != nil, "build: . (the image is built from the Dockerfile)"},
		{"ports", composePorts(app.Ports)["5000"] == "5000", `ports: ["5000:5000"] (the default redirect URL is http://localhost:5000/digitalocean, in the browser and in the container)`},
		{"PORT", env["PORT"] == "5000", `environment: {PORT: "5000"}, matching the container side of the port mapping`},
		{"env_file", optionalDotEnv, "env_file: [{path: .env, required: false}] (without .env the app starts in sandbox mode)"},
		{"healthcheck", len(hc) >= 2 && hc[0] == "CMD" && hc[len(hc)-1] == "healthcheck",
			`healthcheck.test: ["CMD", "/dosignin", "healthcheck"] (exec form: the image has no shell)`},
		{"restart", app.Restart == "unless-stopped", "restart: unless-stopped"},
		{"read_only", app.ReadOnly, "read_only: true (the app writes nothing to disk)"},
		{"no-new-privileges", slices.Contains(app.SecurityOpt, "no-new-privileges:true"), `security_opt: ["no-new-privileges:true"]`},
		{"cap_drop", slices.Contains(app.CapDrop, "ALL"), "cap_drop: [ALL] (a web server on a high port needs no capability)"},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("docker-compose.yml, service app, %s: want %s", tt.name, tt.want)
		}
	}

	// The shared store is optional: behind a profile, so that plain
	// `docker compose up` starts the app alone, and the app neither
	// depends on it nor sets REDIS_URL itself (.env does, when wanted).
	valkey, ok := file.Services["valkey"]
	if !ok {
		t.Fatal("docker-compose.yml: no valkey service (the optional shared store)")
	}
	if !slices.Equal(valkey.Profiles, []string{"shared-store"}) {
		t.Errorf("docker-compose.yml, service valkey: profiles %v, want [shared-store]", valkey.Profiles)
	}
	if _, set := env["REDIS_URL"]; set || app.DependsOn != nil {
		t.Error("docker-compose.yml, service app: must not set REDIS_URL or depend on valkey (plain `docker compose up` runs without it)")
	}
}

// ---------------------------------------------------------- App Platform spec

// The specs: .do/app.yaml is the spec itself, .do/deploy.template.yaml wraps
// it in `spec:` for the Deploy to DigitalOcean button.
const (
	appSpecFile        = ".do/app.yaml"
	deployTemplateFile = ".do/deploy.template.yaml"
	valkeySpecFile     = ".do/app.valkey.yaml" // several instances with a shared store
)

// appSpecEnv is one entry of a component's envs; Value is nil when absent.
type appSpecEnv struct {
	Key   string  `yaml:"key"`
	Value *string `yaml:"value"`
	Scope string  `yaml:"scope"`
	Type  string  `yaml:"type"`
}

// appSpec is the part of an App Platform app spec these tests read. The
// schema test below covers the whole file.
type appSpec struct {
	Services []struct {
		Name           string `yaml:"name"`
		DockerfilePath string `yaml:"dockerfile_path"`
		HTTPPort       int    `yaml:"http_port"`
		HealthCheck    struct {
			HTTPPath string `yaml:"http_path"`
		} `yaml:"health_check"`
		Envs []appSpecEnv `yaml:"envs"`
	} `yaml:"services"`
	Ingress struct {
		Rules []appSpecRule `yaml:"rules"`
	} `yaml:"ingress"`
}

// appSpecRule is an ingress rule sending a path prefix to a component.
type appSpecRule struct {
	Match struct {
		Path struct {
			Prefix string `yaml:"prefix"`
		} `yaml:"path"`
	} `yaml:"match"`
	Component struct {
		Name string `yaml:"name"`
	} `yaml:"component"`
}

// loadAppSpec reads a spec file into JSON-compatible values (what the API
// receives): for deploy.template.yaml, the value of its spec key.
func loadAppSpec(t *testing.T, name string) map[string]any {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(readRepoFile(t, name)), &doc); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	// A JSON round trip turns YAML's ints into float64 and checks that the
	// file has nothing JSON can't express, as kin-openapi expects.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("%s: not expressible as JSON: %v", name, err)
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%s: the top level must be a mapping: %v", name, err)
	}
	if name == deployTemplateFile {
		if keys := slices.Sorted(maps.Keys(spec)); !slices.Equal(keys, []string{"spec"}) {
			t.Fatalf("%s: top-level keys %v, want only spec (the button reads the app spec from there)", name, keys)
		}
		inner, ok := spec["spec"].(map[string]any)
		if !ok {
			t.Fatalf("%s: spec is not a mapping", name)
		}
		spec = inner
	}
	return spec
}

// typedAppSpec decodes a JSON-compatible spec into appSpec.
func typedAppSpec(t *testing.T, name string, v map[string]any) appSpec {
	t.Helper()
	b, _ := yaml.Marshal(v)
	var spec appSpec
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return spec
}

func TestAppSpecSettings(t *testing.T) {
	t.Parallel()
	for _, name := range []string{appSpecFile, deployTemplateFile} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			spec := typedAppSpec(t, name, loadAppSpec(t, name))
			if len(spec.Services) != 1 {
				t.Fatalf("%s: %d services, want one (the app is a single binary)", name, len(spec.Services))
			}
			svc := spec.Services[0]
			envs := map[string]appSpecEnv{}
			for _, e := range svc.Envs {
				if _, dup := envs[e.Key]; dup {
					t.Errorf("%s: %s is set twice", name, e.Key)
				}
				envs[e.Key] = e
			}
			value := func(key string) string {
				if e, ok := envs[key]; ok && e.Value != nil {
					return *e.Value
				}
				return ""
			}

			if svc.DockerfilePath != "Dockerfile" {
				t.Errorf("%s: dockerfile_path is %q, want Dockerfile (the one at the repository root)", name, svc.DockerfilePath)
			}
			if port := value("PORT"); port == "" || port != strconv.Itoa(svc.HTTPPort) {
				t.Errorf("%s: http_port is %d but PORT is %q: App Platform sends traffic to http_port, the app listens on PORT", name, svc.HTTPPort, port)
			}
			if svc.HealthCheck.HTTPPath != "/healthz" {
				t.Errorf("%s: health_check.http_path is %q, want /healthz", name, svc.HealthCheck.HTTPPath)
			}
			if got, want := value("DIGITALOCEAN_REDIRECT_URL"), "${APP_URL}/digitalocean"; got != want {
				t.Errorf("%s: DIGITALOCEAN_REDIRECT_URL is %q, want %q (the app's public https URL, bound by App Platform, plus the callback route)", name, got, want)
			}
			if got := value("LOG_FORMAT"); got != "json" {
				t.Errorf("%s: LOG_FORMAT is %q, want json", name, got)
			}
			secrets := []string{"DIGITALOCEAN_CLIENT_ID", "DIGITALOCEAN_CLIENT_SECRET", "SESSION_SECRET"}
			for _, key := range secrets {
				e, ok := envs[key]
				switch {
				case !ok:
					t.Errorf("%s: no %s variable: App Platform should ask for it", name, key)
				case e.Type != "SECRET":
					t.Errorf("%s: %s has type %q, want SECRET (encrypted, hidden in logs)", name, key, e.Type)
				case e.Scope != "RUN_TIME":
					t.Errorf("%s: %s has scope %q, want RUN_TIME (build-time variables become docker build args)", name, key, e.Scope)
				}
			}
			for _, e := range svc.Envs {
				if !secretName.MatchString(e.Key) {
					continue
				}
				if e.Value != nil && *e.Value != "" {
					t.Errorf("%s: %s has a value: never commit a secret, App Platform prompts for it", name, e.Key)
				}
				if e.Type != "SECRET" && !slices.Contains(secrets, e.Key) { // those were reported above
					t.Errorf("%s: %s looks like a secret but has type %q, want SECRET", name, e.Key, e.Type)
				}
			}
			routed := slices.ContainsFunc(spec.Ingress.Rules, func(r appSpecRule) bool {
				return r.Match.Path.Prefix == "/" && r.Component.Name == svc.Name
			})
			if !routed {
				t.Errorf("%s: no ingress rule sends / to the %s service", name, svc.Name)
			}
		})
	}
}

// TestAppSpecFilesMatch checks that the Deploy button creates the same app as
// .do/app.yaml: the two are compared as parsed values, so comments and layout
// may differ, settings may not.
func TestAppSpecFilesMatch(t *testing.T) {
	t.Parallel()
	app := loadAppSpec(t, appSpecFile)
	tmpl := loadAppSpec(t, deployTemplateFile)
	if diff := specDiff("", app, tmpl); len(diff) > 0 {
		t.Errorf("%s and the spec in %s differ:\n%s", appSpecFile, deployTemplateFile, strings.Join(diff, "\n"))
	}
}

// .do/app.valkey.yaml is .do/app.yaml plus a managed Valkey database bound
// to REDIS_URL, and more than one instance; nothing else differs.
func TestAppSpecWithValkey(t *testing.T) {
	t.Parallel()
	app, valkey := loadAppSpec(t, appSpecFile), loadAppSpec(t, valkeySpecFile)

	dbs, _ := valkey["databases"].([]any)
	if len(dbs) != 1 {
		t.Fatalf("%s: %d databases, want one", valkeySpecFile, len(dbs))
	}
	db, _ := dbs[0].(map[string]any)
	if db["engine"] != "VALKEY" || db["production"] != true || db["cluster_name"] == nil {
		t.Errorf("%s: database %v, want engine VALKEY, production true and a cluster_name (managed caching has no dev databases)", valkeySpecFile, db)
	}
	web := firstService(valkey)
	if n, _ := web["instance_count"].(float64); n < 2 {
		t.Errorf("%s: instance_count %v; the shared store is for several instances", valkeySpecFile, web["instance_count"])
	}
	var found bool
	envs, _ := web["envs"].([]any)
	for i, e := range envs {
		if m, _ := e.(map[string]any); m["key"] == "REDIS_URL" {
			found = true
			if want := "${" + fmt.Sprint(db["name"]) + ".DATABASE_URL}"; m["value"] != want || m["scope"] != "RUN_TIME" {
				t.Errorf("%s: REDIS_URL = %v (scope %v), want %s bound at RUN_TIME", valkeySpecFile, m["value"], m["scope"], want)
			}
			web["envs"] = slices.Delete(slices.Clone(envs), i, i+1)
		}
	}
	if !found {
		t.Errorf("%s: no REDIS_URL env", valkeySpecFile)
	}
	delete(valkey, "databases")
	delete(web, "instance_count")
	delete(firstService(app), "instance_count")
	if diff := specDiff("", app, valkey); len(diff) > 0 {
		t.Errorf("%s differs from %s beyond the database:\n%s", valkeySpecFile, appSpecFile, strings.Join(diff, "\n"))
	}
}

// specDiff lists where two JSON-compatible values differ, by path.
func specDiff(at string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var diff []string
		keys := slices.Sorted(maps.Keys(am))
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			diff = append(diff, specDiff(at+"."+k, am[k], bm[k])...)
		}
		return diff
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		var diff []string
		for i := range as {
			diff = append(diff, specDiff(fmt.Sprintf("%s[%d]", at, i), as[i], bs[i])...)
		}
		return diff
	}
	if !reflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("  %s: %v vs %v", at, a, b)}
	}
	return nil
}

// ------------------------------------------- App Platform spec vs the schema

// openAPISpecPath is where DigitalOcean's OpenAPI description is expected.
func openAPISpecPath() string {
	if p := os.Getenv("DO_OPENAPI_SPEC"); p != "" {
		return p
	}
	return filepath.Join("..", "shared", "do-openapi", "digitalocean-v2.yaml")
}

// loadedAppSpecSchema is the app_spec schema and how long loading it took.
type loadedAppSpecSchema struct {
	schema *openapi3.Schema
	took   time.Duration
}

// appSpecSchema loads the app_spec schema once per test binary: the OpenAPI
// file is 3 MB and takes a while to parse and resolve.
var appSpecSchema = sync.OnceValues(func() (loadedAppSpecSchema, error) {
	p := openAPISpecPath()
	if _, err := os.Stat(p); err != nil {
		return loadedAppSpecSchema{}, fmt.Errorf("%w: %v", errNoOpenAPISpec, err)
	}
	start := time.Now()
	doc, err := openapi3.NewLoader().LoadFromFile(p)
	if err != nil {
		return loadedAppSpecSchema{}, fmt.Errorf("load %s: %v", p, err)
	}
	ref, ok := doc.Components.Schemas["app_spec"]
	if !ok || ref.Value == nil {
		return loadedAppSpecSchema{}, fmt.Errorf("%s has no components.schemas.app_spec", p)
	}
	return loadedAppSpecSchema{ref.Value, time.Since(start)}, nil
})

var errNoOpenAPISpec = errors.New("DigitalOcean's OpenAPI description is not there")

// requireAppSpecSchema returns the schema, or skips the test when the OpenAPI
// file is absent (unless REQUIRE_OPENAPI_SPEC=1 says it must be there).
func requireAppSpecSchema(t *testing.T) *openapi3.Schema {
	t.Helper()
	loaded, err := appSpecSchema()
	switch {
	case errors.Is(err, errNoOpenAPISpec) && os.Getenv("REQUIRE_OPENAPI_SPEC") != "1":
		t.Skipf("%v; put DigitalOcean's OpenAPI file at ../shared/do-openapi/digitalocean-v2.yaml or set DO_OPENAPI_SPEC to its path (REQUIRE_OPENAPI_SPEC=1 turns this skip into a failure)", err)
	case err != nil:
		t.Fatal(err)
	}
	t.Logf("app_spec schema from %s (loaded once, in %v)", openAPISpecPath(), loaded.took.Round(time.Millisecond))
	return loaded.schema
}

// unknownFields lists the keys of v that schema doesn't declare, since the
// app_spec schema allows any extra key and so wouldn't catch a misspelt
// `heath_check`, which App Platform would reject.
func unknownFields(schema *openapi3.Schema, v any, at string) []string {
	if schema == nil {
		return nil
	}
	switch v := v.(type) {
	case map[string]any:
		props := map[string]*openapi3.Schema{}
		var collect func(s *openapi3.Schema)
		collect = func(s *openapi3.Schema) {
			for name, p := range s.Properties {
				if _, ok := props[name]; !ok && p != nil {
					props[name] = p.Value
				}
			}
			for _, group := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
				for _, sub := range group {
					if sub != nil && sub.Value != nil {
						collect(sub.Value)
					}
				}
			}
		}
		collect(schema)
		var out []string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			p, ok := props[k]
			if !ok {
				out = append(out, at+"."+k)
				continue
			}
			out = append(out, unknownFields(p, v[k], at+"."+k)...)
		}
		return out
	case []any:
		if schema.Items == nil {
			return nil
		}
		var out []string
		for i, item := range v {
			out = append(out, unknownFields(schema.Items.Value, item, fmt.Sprintf("%s[%d]", at, i))...)
		}
		return out
	}
	return nil
}

// validateAppSpec checks a spec against the app_spec schema, then for keys
// the schema doesn't know.
func validateAppSpec(schema *openapi3.Schema, spec map[string]any) error {
	if err := schema.VisitJSON(spec, openapi3.MultiErrors()); err != nil {
		// Keep where and why; drop the schema and value kin-openapi appends.
		var errs openapi3.MultiError
		if !errors.As(err, &errs) {
			errs = openapi3.MultiError{err}
		}
		var lines []string
		for _, e := range errs {
			msg, _, _ := strings.Cut(e.Error(), "\nSchema:")
			lines = append(lines, msg)
		}
		return errors.New(strings.Join(lines, "\n"))
	}
	if unknown := unknownFields(schema, spec, "spec"); len(unknown) > 0 {
		return fmt.Errorf("fields the app_spec schema doesn't define: %s", strings.Join(unknown, ", "))
	}
	return nil
}

func TestAppSpecMatchesOpenAPISchema(t *testing.T) {
	t.Parallel()
	schema := requireAppSpecSchema(t)
	for _, name := range []string{appSpecFile, deployTemplateFile, valkeySpecFile} {
		if err := validateAppSpec(schema, loadAppSpec(t, name)); err != nil {
			t.Errorf("%s does not match DigitalOcean's app_spec schema:\n%v", name, err)
		}
	}
}

// TestAppSpecSchemaRejectsBadSpecs makes sure the validation above has teeth:
// each broken copy of .do/app.yaml must fail it.
func TestAppSpecSchemaRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	schema := requireAppSpecSchema(t)
	tests := []struct {
		name   string
		mutate func(spec map[string]any)
	}{
		{"http_port is a string", func(s map[string]any) { firstService(s)["http_port"] = "abc" }},
		{"http_port out of range", func(s map[string]any) { firstService(s)["http_port"] = 70000 }},
		{"instance_count is zero", func(s map[string]any) { firstService(s)["instance_count"] = 0 }},
		{"unknown instance size", func(s map[string]any) { firstService(s)["instance_size_slug"] = "apps-s-64vcpu-1tb" }},
		{"unknown env type", func(s map[string]any) { firstService(s)["envs"].([]any)[0].(map[string]any)["type"] = "ENCRYPTED" }},
		{"env without key", func(s map[string]any) { delete(firstService(s)["envs"].([]any)[0].(map[string]any), "key") }},
		{"app name with capitals", func(s map[string]any) { s["name"] = "Sign-In" }},
		{"unknown region", func(s map[string]any) { s["region"] = "mars" }},
		{"service without name", func(s map[string]any) { delete(firstService(s), "name") }},
		{"misspelt field", func(s map[string]any) {
			svc := firstService(s)
			svc["heath_check"] = svc["health_check"]
			delete(svc, "health_check")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := loadAppSpec(t, appSpecFile) // a fresh copy to break
			tt.mutate(spec)
			// Numbers set above are Go ints: round-trip again as JSON.
			b, _ := json.Marshal(spec)
			var v map[string]any
			_ = json.Unmarshal(b, &v)
			err := validateAppSpec(schema, v)
			if err == nil {
				t.Fatalf("a spec with %s passed validation", tt.name)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// firstService returns the first service of a JSON-compatible spec.
func firstService(spec map[string]any) map[string]any {
	return spec["services"].([]any)[0].(map[string]any)
}
