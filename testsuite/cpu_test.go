package testsuite

import (
	"os/exec"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name may hold spaces and parentheses; the times are the
	// 14th to 17th fields, in ticks.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 30 7 3 20 0 1 0 123 4096 10 18446744073709551615"
	pid, comm, times, ok := parseStat(line)
	if !ok || pid != 4242 || comm != "a (b) c" {
		t.Fatalf("parsed %d %q %v", pid, comm, ok)
	}
	want := procTimes{user: 2500 * time.Millisecond, system: 300 * time.Millisecond, children: 100 * time.Millisecond}
	if times != want {
		t.Errorf("times %+v, want %+v", times, want)
	}
	if _, _, _, ok := parseStat("4242 (cut"); ok {
		t.Error("a cut line parsed")
	}
}

// TestReadCPU: CPU that this process spends counts as drctl's, and that of
// a program it ran and waited for as the tools'; the machine was busy at
// least that long.
func TestReadCPU(t *testing.T) {
	before := ReadCPU(t)
	spin := func() bool { return ReadCPU(t).Since(before).Parts["drctl"] >= 50*time.Millisecond }
	deadline := time.Now().Add(30 * time.Second)
	for x := 0; !spin(); {
		for range 1 << 20 {
			x = x*31 + 7
		}
		if time.Now().After(deadline) {
			t.Fatal("50 ms of CPU spent here never showed")
		}
	}
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	used := ReadCPU(t).Since(before)
	ran := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	// /proc counts a child's user and system time each in whole 10 ms
	// ticks, rounded down; the process state has them to the microsecond.
	if got := used.Parts["tools"]; got < ran-25*time.Millisecond {
		t.Errorf("tools %v, the program ran %v", got, ran)
	}
	if used.Busy < used.Parts["drctl"]+used.Parts["tools"]-20*time.Millisecond || used.Share() <= 0 || used.Share() > 1 {
		t.Errorf("busy %v of %v for drctl %v and tools %v", used.Busy, used.All, used.Parts["drctl"], used.Parts["tools"])
	}
	t.Log(used)
}
