package testsuite

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CPU is the CPU time used on this machine, in all and by part: the
// benchmarks' ways share two cores with the servers they talk to, so a way
// is only as fast as the CPU it and they need, and these say who needed it.
type CPU struct {
	// All is the time of every core, and Busy of it what was not idle or
	// waiting for I/O, from /proc/stat.
	All, Busy time.Duration
	Parts     map[string]time.Duration // by part of the machine (partOf)
}

// partOf names the part of a benchmark's machine a process is, by its
// command name: a database server, a store server, or a Postgres client
// program; this process, a test binary, is drctl's own code. A process
// that ended counts in its parent's children's time once the parent
// waited for it: a backend's in the postmaster's, a pg_restore's in the
// test binary's.
func partOf(comm string) string {
	switch comm {
	case "postgres":
		return "postgres"
	case "node":
		return "azurite"
	case "sshd", "sftp-server":
		return "sshd"
	case "pg_restore", "pg_dump":
		return "tools"
	}
	return ""
}

// ReadCPU reads the machine's CPU time and that of each part: of this
// process "drctl", of the children it waited for (the pg_restore and
// pg_dump it ran) "tools".
func ReadCPU(t testing.TB) CPU {
	t.Helper()
	out := CPU{Parts: map[string]time.Duration{}}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	for i, field := range strings.Fields(line)[1:] {
		n, _ := strconv.ParseInt(field, 10, 64)
		out.All += ticks(n)
		if i != 3 && i != 4 { // idle, iowait
			out.Busy += ticks(n)
		}
	}
	self := os.Getpid()
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // it ended meanwhile
		}
		pid, comm, times, ok := parseStat(string(b))
		if !ok {
			continue
		}
		if pid == self {
			out.Parts["drctl"] += times.user + times.system
			out.Parts["tools"] += times.children
		} else if part := partOf(comm); part != "" {
			out.Parts[part] += times.user + times.system + times.children
		}
	}
	return out
}

// procTimes is a process's CPU time, and that of its children it waited
// for.
type procTimes struct{ user, system, children time.Duration }

// parseStat reads a /proc/PID/stat line: its pid, command name and times.
func parseStat(s string) (int, string, procTimes, bool) {
	var t procTimes
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, "", t, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return 0, "", t, false
	}
	// After the name, from the state (field 3 of proc(5)): utime, stime,
	// cutime and cstime are fields 14 to 17.
	f := strings.Fields(s[end+1:])
	if len(f) < 15 {
		return 0, "", t, false
	}
	var v [4]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[11+i], 10, 64)
	}
	t = procTimes{user: ticks(v[0]), system: ticks(v[1]), children: ticks(v[2] + v[3])}
	return pid, s[open+1 : end], t, true
}

// ticks converts clock ticks (USER_HZ, 100 on Linux) to a duration.
func ticks(n int64) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

// Since is the CPU used from before to c.
func (c CPU) Since(before CPU) CPU {
	out := CPU{All: c.All - before.All, Busy: c.Busy - before.Busy, Parts: map[string]time.Duration{}}
	for k, v := range c.Parts {
		out.Parts[k] = v - before.Parts[k]
	}
	return out
}

// Add is c and d together, as over several rounds.
func (c CPU) Add(d CPU) CPU {
	out := CPU{All: c.All + d.All, Busy: c.Busy + d.Busy, Parts: map[string]time.Duration{}}
	for _, from := range []CPU{c, d} {
		for k, v := range from.Parts {
			out.Parts[k] += v
		}
	}
	return out
}

// Div is c divided by n, as the mean of n rounds.
func (c CPU) Div(n int) CPU {
	out := CPU{All: c.All / time.Duration(n), Busy: c.Busy / time.Duration(n), Parts: map[string]time.Duration{}}
	for k, v := range c.Parts {
		out.Parts[k] = v / time.Duration(n)
	}
	return out
}

// Share is how much of the machine's CPU time was busy.
func (c CPU) Share() float64 {
	if c.All == 0 {
		return 0
	}
	return float64(c.Busy) / float64(c.All)
}

// String is how busy the machine was, and its busy CPU-seconds by part,
// largest first, then what the parts leave over: the kernel's work on no
// process's behalf (such as writing back files), and other programs.
func (c CPU) String() string {
	names := slices.SortedFunc(maps.Keys(c.Parts), func(a, b string) int { return cmp.Compare(c.Parts[b], c.Parts[a]) })
	var b strings.Builder
	fmt.Fprintf(&b, "CPU %.0f%% busy, %.1f s:", 100*c.Share(), c.Busy.Seconds())
	rest := c.Busy
	for _, k := range names {
		if c.Parts[k] >= 50*time.Millisecond {
			fmt.Fprintf(&b, " %s %.1f,", k, c.Parts[k].Seconds())
		}
		rest -= c.Parts[k]
	}
	fmt.Fprintf(&b, " rest %.1f", rest.Seconds())
	return b.String()
}
