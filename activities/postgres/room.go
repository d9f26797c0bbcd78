package postgres

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/drctl/drctl/internal/pglocal"
	"github.com/drctl/drctl/internal/scratch"
)

// Room on the target's disk: a restore into a local instance is refused
// up front when the disk cannot hold it, and one that ran out of room says
// so, in the server's words, instead of as a lost connection.

// targetRoom refuses a restore into a local instance whose disk has less
// room than the dump's plain size, which the restored tables take at
// least. Other providers' disks are not drctl's to see.
func targetRoom(t *Target, instance string, need int64) error {
	if provider(t) != "local" || t.Instance.DataDir == "" {
		return nil
	}
	l, ok, err := pglocal.Open(t.Instance.DataDir, instanceName(instance))
	if err != nil || !ok {
		return err
	}
	free, err := scratch.Free(l.Dir)
	if err != nil {
		return err
	}
	if free < need {
		return nonRetryable("NoSpace", "instance %s of environment %s has %d MiB free in %s, and the restored database needs at least the dump's %d MiB: make room first",
			l.Name, t.Name, free>>20, l.Dir, need>>20)
	}
	return nil
}

// instanceLogSize is how long a local instance's server log is, so a later look
// reads only what was written after; 0 for other providers.
func instanceLogSize(t *Target, instance string) int64 {
	if provider(t) != "local" || t.Instance.DataDir == "" {
		return 0
	}
	l, ok, _ := pglocal.Open(t.Instance.DataDir, instanceName(instance))
	if !ok {
		return 0
	}
	return pglocal.LogSize(l.LogFile())
}

// diskFull names a full disk behind a failed load: a line of the client's
// errors, or of a local instance's server log since offset from, that says
// so, with the room left; "" when nothing does.
func diskFull(t *Target, instance string, from int64, lines []string) string {
	const sign = "No space left on device"
	found := ""
	for _, line := range lines {
		if strings.Contains(line, sign) {
			found = line
			break
		}
	}
	if provider(t) != "local" || t.Instance.DataDir == "" {
		return found
	}
	l, ok, _ := pglocal.Open(t.Instance.DataDir, instanceName(instance))
	if !ok {
		return found
	}
	if found == "" {
		if f, err := os.Open(l.LogFile()); err == nil {
			defer f.Close()
			sc := bufio.NewScanner(io.NewSectionReader(f, from, 1<<30))
			for sc.Scan() {
				if strings.Contains(sc.Text(), sign) {
					found = strings.TrimSpace(sc.Text())
					break
				}
			}
		}
	}
	if found == "" {
		return ""
	}
	if free, err := scratch.Free(l.Dir); err == nil {
		found += fmt.Sprintf(" (%d MiB free in %s)", free>>20, l.Dir)
	}
	return found
}
