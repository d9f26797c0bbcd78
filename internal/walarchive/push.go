package walarchive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/drctl/drctl/activities/backup"
)

// Pusher archives the files Postgres hands its archive_command, one call
// a file (%p). A call also archives, over the same connection and a few at
// a time, the next files Postgres has marked ready to archive
// (pg_wal/archive_status/*.ready), and leaves a note of each in
// pg_wal/.drctl-pushed: Postgres's calls for those find their file
// archived and do not open the store. One at a time, every file pays for
// opening the store (for SFTP an ssh handshake) and a dozen round trips
// while the next wait, so a busy server's WAL can outrun its archiving
// and fill pg_wal; in batches that is paid once a batch and the uploads
// overlap.
//
// A note is written only once its file and the file's record are stored,
// and holds the file's identity, size and modification time: a call finds
// its file archived only if it is still that file, unchanged. Postgres's own call for a file is always answered
// for that file alone, archived or failed.
type Pusher struct {
	Env string
	// Open opens the archive and gives the recipients to encrypt to;
	// called only when a file is not noted as archived already.
	Open func(context.Context) (backup.Store, []string, error)
	// Batch is how many more ready files a call archives (0: none).
	Batch int
}

const (
	pushedDir   = ".drctl-pushed"
	pushWorkers = 4
)

// Push archives file and, with it, up to Batch more of those ready.
func (p Pusher) Push(ctx context.Context, file string) error {
	pgWAL, name := filepath.Dir(file), filepath.Base(file)
	notes := filepath.Join(pgWAL, pushedDir)
	if noted(notes, file) {
		_ = os.Remove(filepath.Join(notes, name))
		return nil
	}
	s, recipients, err := p.Open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	others := readyToArchive(pgWAL, name, p.Batch)
	errs := make([]error, 1+len(others))
	files := append([]string{file}, others...)
	// Stamped before they are read: a file changed while it was being
	// archived is not noted as archived.
	stamps := make([]string, len(files))
	for i, f := range files {
		stamps[i], _ = fileStamp(f)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(pushWorkers, len(files)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = PushSegment(ctx, s, recipients, p.Env, files[i])
			}
		})
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	// The others only save Postgres's calls for them time; one that
	// failed is tried again by that call, which says why.
	for i, other := range others {
		if errs[i+1] == nil && stamps[i+1] != "" {
			if now, err := fileStamp(other); err == nil && now == stamps[i+1] {
				_ = note(notes, filepath.Base(other), now)
			}
		}
	}
	clearNotes(notes, pgWAL)
	return errs[0]
}

// readyToArchive lists up to n files of pgWAL other than name that Postgres
// marked ready to archive and that have no note yet, in the order its
// archiver takes them: timeline history first, then by name, oldest first.
func readyToArchive(pgWAL, name string, n int) []string {
	if n <= 0 {
		return nil
	}
	status, err := os.ReadDir(filepath.Join(pgWAL, "archive_status"))
	if err != nil {
		return nil // not a pg_wal: a file archived by hand
	}
	var ready []string
	for _, e := range status {
		other, ok := strings.CutSuffix(e.Name(), ".ready")
		if !ok || other == name || strings.ContainsAny(other, `/\`) {
			continue
		}
		if _, err := os.Stat(filepath.Join(pgWAL, pushedDir, other)); err == nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(pgWAL, other)); err == nil && fi.Mode().IsRegular() {
			ready = append(ready, other)
		}
	}
	slices.SortFunc(ready, func(a, b string) int {
		if ha, hb := strings.HasSuffix(a, ".history"), strings.HasSuffix(b, ".history"); ha != hb {
			if ha {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	ready = ready[:min(n, len(ready))]
	for i, r := range ready {
		ready[i] = filepath.Join(pgWAL, r)
	}
	return ready
}

// noted tells whether file was archived by an earlier call's batch: its
// note is there and names this very file, unchanged since (its identity
// on disk, size and modification time, as rsync tells files apart), so
// the answer costs no reading of it.
func noted(notes, file string) bool {
	want, err := os.ReadFile(filepath.Join(notes, filepath.Base(file)))
	if err != nil {
		return false
	}
	got, err := fileStamp(file)
	return err == nil && got == string(want)
}

// fileStamp tells a file apart from any other, or from itself changed.
func fileStamp(file string) (string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", errors.New("no file identity on this system")
	}
	return fmt.Sprintf("%d:%d %d %d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano()), nil
}

// note records that name, whose stamp is what it was when archived, is
// archived; whole or not at all, so a note is never half-written.
func note(notes, name, stamp string) error {
	if err := os.Mkdir(notes, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	tmp := filepath.Join(notes, "."+name+".part")
	if err := os.WriteFile(tmp, []byte(stamp), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(notes, name))
}

// clearNotes removes the notes of files Postgres no longer has ready to
// archive (it archived them some other way, or they were removed).
func clearNotes(notes, pgWAL string) {
	entries, err := os.ReadDir(notes)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "."), ".part")
		if _, err := os.Stat(filepath.Join(pgWAL, "archive_status", name+".ready")); errors.Is(err, fs.ErrNotExist) {
			_ = os.Remove(filepath.Join(notes, e.Name()))
		}
	}
}
