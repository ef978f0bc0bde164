// Package curlcmd reads the curl commands the learn pages and the
// tutorial show (learn.Request.Curl, docs/TUTORIAL.md) into the HTTP
// requests they send, without a shell, so that tests can send them and
// prove that every command shown works.
//
// It reads the subset of curl and of the POSIX shell those commands use:
// arguments separated by blanks, single and double quotes (with no
// expansion inside: the commands use none), a backslash before a newline
// to continue the line, and the flags -i, -s, -X METHOD, -H 'Name: value'
// and -d DATA (repeated -d are joined with &, and make a POST with
// Content-Type application/x-www-form-urlencoded, as curl does). Anything
// else is an error, so a command that uses more than this is noticed.
package curlcmd

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Parse reads one curl command into the request it sends.
func Parse(command string) (*http.Request, error) {
	args, err := split(command)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 || args[0] != "curl" {
		return nil, errors.New("curlcmd: the command does not start with curl")
	}
	method, target := "", ""
	var data []string
	header := http.Header{}
	for i := 1; i < len(args); i++ {
		arg := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("curlcmd: %s needs a value", arg)
			}
			i++
			return args[i], nil
		}
		switch arg {
		case "-i", "-s", "--include", "--silent":
		case "-X", "--request":
			if method, err = value(); err != nil {
				return nil, err
			}
		case "-H", "--header":
			h, err := value()
			if err != nil {
				return nil, err
			}
			name, v, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" {
				return nil, fmt.Errorf("curlcmd: header %q has no name", h)
			}
			header.Add(strings.TrimSpace(name), strings.TrimSpace(v))
		case "-d", "--data":
			d, err := value()
			if err != nil {
				return nil, err
			}
			data = append(data, d)
		default:
			if strings.HasPrefix(arg, "-") {
				return nil, fmt.Errorf("curlcmd: flag %s is not one this package reads", arg)
			}
			if target != "" {
				return nil, fmt.Errorf("curlcmd: two URLs, %s and %s", target, arg)
			}
			target = arg
		}
	}
	if target == "" {
		return nil, errors.New("curlcmd: no URL")
	}
	if method == "" {
		method = http.MethodGet
		if data != nil {
			method = http.MethodPost
		}
	}
	var req *http.Request
	if data != nil {
		req, err = http.NewRequest(method, target, strings.NewReader(strings.Join(data, "&")))
		if err == nil && header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, target, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("curlcmd: %w", err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	return req, nil
}

// split splits a command into its arguments as a POSIX shell would,
// without expanding anything.
func split(command string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg := false
	for i := 0; i < len(command); i++ {
		switch c := command[i]; {
		case c == '\\' && i+1 < len(command) && command[i+1] == '\n':
			i++ // a continued line
		case c == '\\' && i+1 < len(command):
			i++
			cur.WriteByte(command[i])
			inArg = true
		case c == '\'' || c == '"':
			end := strings.IndexByte(command[i+1:], c)
			if end < 0 {
				return nil, fmt.Errorf("curlcmd: unclosed %c quote", c)
			}
			quoted := command[i+1 : i+1+end]
			if c == '"' && strings.ContainsAny(quoted, "$`\\") {
				return nil, errors.New("curlcmd: a double-quoted argument would be expanded by the shell")
			}
			cur.WriteString(quoted)
			i += end + 1
			inArg = true
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		case c == '$' || c == '`' || c == '|' || c == ';' || c == '&' || c == '<' || c == '>' || c == '#':
			return nil, fmt.Errorf("curlcmd: %q outside quotes is shell syntax this package does not run", c)
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
