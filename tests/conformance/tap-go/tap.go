// Package tap writes Test Anything Protocol (version 13) output.
//
// sm-runtime's stand-in for github.com/mndrix/tap-go, which Debian does not package: the
// runtime-tools validation programs and runtimetest are built against this package in GOPATH
// mode (tests/conformance/run.sh places it at src/github.com/mndrix/tap-go). It provides the
// subset of that API the suite calls; test numbers are shared between a T and its Todo() view.
package tap

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"gopkg.in/yaml.v2"
)

// counter is shared by a T and every T derived from it with Todo().
type counter struct {
	mu   sync.Mutex
	last int
}

// T emits the results of one test run.
type T struct {
	// Writer receives the TAP stream (standard output by default).
	Writer io.Writer
	// TODO marks the results written through this T as "# TODO".
	TODO bool
	n    *counter
}

// New returns a T that writes to standard output.
func New() *T {
	return &T{Writer: os.Stdout, n: &counter{}}
}

func (t *T) printf(format string, a ...interface{}) {
	fmt.Fprintf(t.Writer, format, a...)
}

// Header starts the stream; a positive count also declares the plan up front.
func (t *T) Header(count int) {
	t.printf("TAP version 13\n")
	if count > 0 {
		t.printf("1..%d\n", count)
	}
}

// result writes one numbered result line with an optional directive.
func (t *T) result(pass bool, description, directive string) {
	t.n.mu.Lock()
	t.n.last++
	num := t.n.last
	t.n.mu.Unlock()
	status := "ok"
	if !pass {
		status = "not ok"
	}
	// A newline or '#' in a description would be parsed as a new line or a directive.
	description = strings.ReplaceAll(description, "\n", " ")
	description = strings.ReplaceAll(description, "#", "\\#")
	line := fmt.Sprintf("%s %d", status, num)
	if description != "" {
		line += " - " + description
	}
	if directive != "" {
		line += " # " + directive
	} else if t.TODO {
		line += " # TODO"
	}
	t.printf("%s\n", line)
}

// Ok records a result that passes when test is true.
func (t *T) Ok(test bool, description string) {
	t.result(test, description, "")
}

// Pass records a passing result.
func (t *T) Pass(description string) {
	t.result(true, description, "")
}

// Fail records a failing result.
func (t *T) Fail(description string) {
	t.result(false, description, "")
}

// Skip records count skipped results, all with the same reason.
func (t *T) Skip(count int, description string) {
	for i := 0; i < count; i++ {
		t.result(true, "", "SKIP "+description)
	}
}

// Todo returns a view of t whose results are marked TODO; numbering continues in t.
func (t *T) Todo() *T {
	return &T{Writer: t.Writer, TODO: true, n: t.n}
}

// Count is the number of results written so far.
func (t *T) Count() int {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	return t.n.last
}

// AutoPlan ends the stream with a plan covering every result written.
func (t *T) AutoPlan() {
	t.printf("1..%d\n", t.Count())
}

// Diagnostic writes a comment; each line of message gets its own "# " prefix.
func (t *T) Diagnostic(message string) {
	for _, line := range strings.Split(strings.TrimRight(message, "\n"), "\n") {
		t.printf("# %s\n", line)
	}
}

// Diagnosticf is Diagnostic with a format string.
func (t *T) Diagnosticf(format string, a ...interface{}) {
	t.Diagnostic(fmt.Sprintf(format, a...))
}

// YAML attaches a YAML block to the previous result.
func (t *T) YAML(message interface{}) error {
	out, err := yaml.Marshal(message)
	if err != nil {
		return err
	}
	t.printf("  ---\n")
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		t.printf("  %s\n", line)
	}
	t.printf("  ...\n")
	return nil
}
