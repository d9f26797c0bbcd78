package pgdump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/drctl/drctl/internal/childio"
)

// ErrInstanceGone is why a pg_restore stopped when its instance no longer
// answers: then nothing else can load, and that is the cause to report.
var ErrInstanceGone = errors.New("the instance is gone")

// Target is the database a restore loads into.
type Target struct {
	// Database is its name.
	Database string
	// Env is pg_restore's environment, which says how it connects.
	Env []string
	// Gone, asked once pg_restore failed, says why the instance no longer
	// answers, or nil while it does.
	Gone func(context.Context) error
}

// Restore runs pg_restore into t, reading the dump from stdin unless args
// name a file. pg_restore goes on after an SQL error; those errors
// are returned for the caller to sort, and err is only for a pg_restore
// that failed without saying which statement did.
func Restore(ctx context.Context, t Target, stdin io.Reader, args ...string) ([]string, error) {
	db := t.Database
	cmd := exec.CommandContext(ctx, "pg_restore", append([]string{"--dbname=" + db, "--no-password"}, args...)...)
	childio.Bind(cmd)
	cmd.Env = t.Env
	cmd.Stdin = stdin
	stderr := &lineCollector{}
	cmd.Stderr = stderr
	err := cmd.Run()
	if err != nil && len(stderr.errors) == 0 {
		return nil, fmt.Errorf("pg_restore into %s: %w: %s", db, err, childio.Cut(stderr.all.String()))
	}
	if err != nil && ctx.Err() == nil {
		// Its errors are for the caller to sort, unless the instance itself
		// is gone: then nothing else can load, and that is the cause.
		if gone := t.Gone(ctx); gone != nil {
			return nil, fmt.Errorf("pg_restore into %s stopped: %w: %v (its last error: %s)",
				db, ErrInstanceGone, gone, stderr.errors[len(stderr.errors)-1])
		}
	}
	return stderr.errors, nil
}

// lineCollector keeps pg_restore's error lines (each with the SQL error
// that follows "could not execute query:") and a capped copy of all.
type lineCollector struct {
	buf    []byte
	all    bytes.Buffer
	errors []string
}

func (l *lineCollector) Write(p []byte) (int, error) {
	if l.all.Len() < childio.MaxOutput {
		l.all.Write(p[:min(len(p), childio.MaxOutput-l.all.Len())])
	}
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if msg, ok := strings.CutPrefix(line, "pg_restore: error: "); ok {
			if len(l.errors) < 10000 {
				l.errors = append(l.errors, msg)
			}
		}
	}
	return len(p), nil
}
