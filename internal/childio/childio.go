// Package childio holds what drctl gives the programs it starts and what it
// keeps of what they print. A child's environment is built from an
// allowlist, never copied from the worker, whose environment holds its
// secrets; a child's output has every secret value replaced before it is
// cut to size, so no part of a secret survives at the cut.
package childio

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// inherited are the worker's variables a child gets: where programs are,
// the locale, the time zone and scratch folder, and the clock and libraries
// the worker runs under (a worker started under libfaketime gives its
// children the same clock).
var inherited = []string{"PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "HOME", "LD_PRELOAD", "FAKETIME", "DONT_FAKE_MONOTONIC"}

// Env is the environment of a child process: the inherited variables that
// are set, LANG defaulting to C.UTF-8, then extra ("NAME=value"), which
// win over them.
func Env(extra ...string) []string {
	var env []string
	for _, k := range inherited {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "LANG" {
			env = append(env, "LANG=C.UTF-8")
		}
	}
	return append(env, extra...)
}

// Redactor holds the secret values to take out of output.
type Redactor []string

// minSecret is the shortest value redacted: shorter ones would take out
// half of any text.
const minSecret = 4

// Apply replaces every secret value in s with a marker.
func (r Redactor) Apply(s string) string {
	for _, v := range r {
		if len(v) >= minSecret {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	return s
}

// longest is the length of the longest value redacted.
func (r Redactor) longest() int {
	n := 0
	for _, v := range r {
		if len(v) >= minSecret {
			n = max(n, len(v))
		}
	}
	return n
}

// Capture keeps the first and last Max/2 bytes written to it, where a
// command's errors are, with Redact applied to the whole stream first.
type Capture struct {
	Max    int
	Redact Redactor

	head, tail []byte
	dropped    int64
	// pending is the end of the stream not yet kept: it may hold the
	// start of a secret whose rest has not arrived.
	pending string
}

// Write redacts what it can of p and keeps it; it never fails.
func (c *Capture) Write(p []byte) (int, error) {
	text := c.Redact.Apply(c.pending + string(p))
	hold := min(max(c.Redact.longest()-1, 0), len(text))
	c.keep(text[:len(text)-hold])
	c.pending = text[len(text)-hold:]
	return len(p), nil
}

func (c *Capture) keep(s string) {
	if room := c.Max/2 - len(c.head); room > 0 {
		k := min(room, len(s))
		c.head = append(c.head, s[:k]...)
		s = s[k:]
	}
	if len(s) > 0 {
		c.tail = append(c.tail, s...)
		if over := len(c.tail) - c.Max/2; over > 0 {
			c.dropped += int64(over)
			c.tail = c.tail[over:]
		}
	}
}

// String is what was kept, with a note of how much was cut between the
// head and the tail.
func (c *Capture) String() string {
	c.keep(c.Redact.Apply(c.pending))
	c.pending = ""
	if c.dropped == 0 {
		return string(c.head) + string(c.tail)
	}
	return fmt.Sprintf("%s\n… (%d bytes cut) …\n%s", c.head, c.dropped, c.tail)
}

// Bind ties a command to its worker: it runs in a process group of its
// own, which the context's end kills whole (the program and whatever it
// started), and it gets SIGKILL if the worker dies, even by SIGKILL, so no
// pg_restore goes on loading a database for a run that is over. Servers
// that must outlive the worker (pg_ctl start) are not bound. cmd comes
// from exec.CommandContext.
func Bind(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
}

// MaxOutput caps what is kept of a child's output: enough to diagnose,
// never a flood in a workflow's history.
const MaxOutput = 16 << 10

// Cut keeps the head and the tail of s, MaxOutput bytes in all.
func Cut(s string) string {
	if len(s) <= MaxOutput {
		return s
	}
	return s[:MaxOutput/2] + "\n… (output cut) …\n" + s[len(s)-MaxOutput/2:]
}

// ShellQuote writes argv as one command line for sh, each word quoted: how
// Postgres is given drctl's archive_command and restore_command.
func ShellQuote(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
