package walarchive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drctl/drctl/activities/backup"
)

// Fetcher restores the WAL files recovery asks for, one call a file
// (restore_command's %f and %p). A segment is also the start of a
// background fetch of the next Ahead segments of its timeline into a
// spool in pg_wal (.drctl-prefetch), where later calls find theirs:
// replay goes on while the store is read ahead of it, instead of waiting
// a round trip to the store (for SFTP, an ssh handshake too) on every
// segment. A call answered from the spool does not open the store.
//
// While a background fetch is in flight it holds the spool's lock, whose
// file lists the segments it fetches: a call for one of those waits for
// it, any other call fetches directly. Files enter the spool whole, by
// rename, so what a call finds there is what the archive holds.
type Fetcher struct {
	Env string
	// Open opens the archive and resolves the identity that decrypts it;
	// called only when the spool cannot answer.
	Open func(context.Context) (backup.Store, string, error)
	// Ahead is how many segments to keep fetched ahead (0: none).
	Ahead int
	// Background starts fetching names into spool (Prefetch) and
	// returns; it owns lock and closes it when those fetches are done,
	// which tells later calls there is nothing more to wait for.
	Background func(lock *os.File, spool string, names []string) error
}

// Fetch restores name to dest. A segment that is not archived is reported
// as ErrNotFound, which recovery takes as the end of the archive.
func (f Fetcher) Fetch(ctx context.Context, name, dest string) error {
	seg, isSegment := parseSegment(name)
	if f.Ahead <= 0 || !isSegment || f.Background == nil {
		return f.direct(ctx, name, dest)
	}
	spool := filepath.Join(filepath.Dir(dest), prefetchDir)
	if err := os.Mkdir(spool, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(spool, spoolLock), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	held, found, err := takeSpooled(ctx, lock, spool, name, dest)
	if err == nil && !found {
		err = f.direct(ctx, name, dest)
	}
	again := err == nil && servedBefore(spool, name)
	if err != nil || !held {
		lock.Close()
		return err
	}
	// Nothing is in flight: fetch what the spool lacks of the segments
	// after this one. Recovery asking again for one it had is its end (it
	// reads its last segment once more to start the new timeline), after
	// which no segment is asked for: the spool is only emptied. Fetching
	// ahead only saves time, so a failure to start it leaves recovery
	// fetching one segment a call.
	ahead := f.Ahead
	if again {
		ahead = 0
	}
	names, err := refill(lock, spool, seg, dest, ahead)
	if err != nil || len(names) == 0 {
		lock.Close()
		return nil
	}
	_ = f.Background(lock, spool, names)
	return nil
}

// servedBefore tells whether recovery had name or a later segment of its
// timeline from an earlier call, and keeps name as the latest it had.
func servedBefore(spool, name string) bool {
	last, err := os.ReadFile(filepath.Join(spool, spoolLast))
	_ = os.WriteFile(filepath.Join(spool, spoolLast), []byte(name), 0o600)
	// Names of one timeline, in fixed-width hex, sort as they count.
	return err == nil && len(last) == len(name) && string(last[:8]) == name[:8] && name <= string(last)
}

func (f Fetcher) direct(ctx context.Context, name, dest string) error {
	s, identity, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return fetchWAL(ctx, s, identity, f.Env, name, dest)
}

// Prefetch is a Fetcher's background fetch: names into spool, in
// order, a few at a time, returning when all are done. A segment it
// cannot fetch is left out; recovery's own call for it tells why.
func Prefetch(ctx context.Context, s backup.Store, identity, env, spool string, names []string) {
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(prefetchWorkers, len(names)) {
		wg.Go(func() {
			for name := range next {
				_ = fetchWAL(ctx, s, identity, env, name, filepath.Join(spool, name))
			}
		})
	}
	for _, name := range names {
		next <- name
	}
	close(next)
	wg.Wait()
}

// IsSpoolLock tells whether f is spool's lock, which a background fetch
// holds while it runs.
func IsSpoolLock(f *os.File, spool string) bool {
	held, err := f.Stat()
	if err != nil {
		return false
	}
	want, err := os.Stat(filepath.Join(spool, spoolLock))
	return err == nil && os.SameFile(held, want)
}

// takeSpooled moves name from the spool to dest, waiting (at most
// spoolWait) while the fetch in flight lists it. held: the call now holds
// the spool's lock, so no fetch is in flight.
func takeSpooled(ctx context.Context, lock *os.File, spool, name, dest string) (held, found bool, err error) {
	deadline := time.Now().Add(spoolWait)
	for {
		if held, err = tryLock(lock); err != nil {
			return false, false, err
		}
		// Tried once the lock is taken: a fetch that has just ended
		// renamed its segments in before it let go.
		if os.Rename(filepath.Join(spool, name), dest) == nil {
			return held, true, nil
		}
		if held || !inFlight(spool, name) || time.Now().After(deadline) {
			return held, false, nil
		}
		if spoolWaiting != nil {
			spoolWaiting()
		}
		select {
		case <-ctx.Done():
			return false, false, ctx.Err()
		case <-time.After(spoolPoll):
		}
	}
}

// refill clears the spool of all but the next ahead segments after seg
// (at most prefetchBytes of them) and returns those it lacks, listed in
// the lock for the calls that will wait on them.
func refill(lock *os.File, spool string, seg walSegment, dest string, ahead int) ([]string, error) {
	// A segment file is exactly the cluster's segment size, which its
	// names count in.
	st, err := os.Stat(dest)
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size < 1<<20 || size > 1<<30 || size&(size-1) != 0 {
		ahead = 0
	} else if limit := int(prefetchBytes / size); ahead > limit {
		ahead = limit
	}
	window := make([]string, ahead)
	for i := range window {
		window[i] = seg.after(uint64(i)+1, uint64(size))
	}
	entries, err := os.ReadDir(spool)
	if err != nil {
		return nil, err
	}
	spooled := map[string]bool{}
	for _, e := range entries {
		switch {
		case e.Name() == spoolLock || e.Name() == spoolLast:
		case slices.Contains(window, e.Name()):
			spooled[e.Name()] = true
		default:
			// Behind recovery, on another timeline, or a fetch cut off.
			if err := os.Remove(filepath.Join(spool, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	var names []string
	for _, name := range window {
		if !spooled[name] {
			names = append(names, name)
		}
	}
	if err := lock.Truncate(0); err != nil {
		return nil, err
	}
	if _, err := lock.WriteAt([]byte(strings.Join(names, "\n")), 0); err != nil {
		return nil, err
	}
	return names, nil
}

// inFlight tells whether the fetch in flight lists name.
func inFlight(spool, name string) bool {
	listed, err := os.ReadFile(filepath.Join(spool, spoolLock))
	return err == nil && slices.Contains(strings.Split(string(listed), "\n"), name)
}

func tryLock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// ClearSpool removes pg_wal's spool once recovery is over, after the fetch
// in flight, if any, has ended (at most spoolWait), so that none writes
// into it after.
func ClearSpool(ctx context.Context, pgWAL string) error {
	spool := filepath.Join(pgWAL, prefetchDir)
	if lock, err := os.Open(filepath.Join(spool, spoolLock)); err == nil {
		deadline := time.Now().Add(spoolWait)
		for held, err := tryLock(lock); !held && err == nil && time.Now().Before(deadline); held, err = tryLock(lock) {
			select {
			case <-ctx.Done():
				lock.Close()
				return ctx.Err()
			case <-time.After(spoolPoll):
			}
		}
		lock.Close()
	}
	return os.RemoveAll(spool)
}

const (
	// prefetchDir is the spool inside pg_wal; Postgres leaves alone what
	// in pg_wal is not named as WAL.
	prefetchDir = ".drctl-prefetch"
	spoolLock   = ".lock"
	spoolLast   = ".last" // the segment recovery had last
	// prefetchWorkers fetch a spool's segments in order, so the one
	// recovery asks for next comes first.
	prefetchWorkers = 4
	spoolPoll       = 5 * time.Millisecond
)

var (
	// prefetchBytes caps the spool, which pg_wal's disk must hold beside
	// the WAL recovery keeps: 8 segments of the usual 16 MiB, none of 1 GiB.
	prefetchBytes int64 = 128 << 20
	// spoolWait bounds a call's wait on a fetch in flight that is stuck;
	// the call then fetches its segment itself.
	spoolWait = 2 * time.Minute
	// spoolWaiting, when set, is told each time a call waits on a fetch
	// in flight: tests release the fetch once a call is waiting on it.
	spoolWaiting func()
)

// parseSegment reads a WAL segment's name: its timeline and the high and
// low parts of its number, the low part counted in segments of the
// cluster's size. History, backup-label and partial files are not
// segments.
func parseSegment(name string) (seg walSegment, ok bool) {
	if len(name) != 24 || strings.ToUpper(name) != name {
		return seg, false
	}
	var parts [3]uint64
	for i := range parts {
		n, err := strconv.ParseUint(name[i*8:i*8+8], 16, 32)
		if err != nil {
			return seg, false
		}
		parts[i] = n
	}
	return walSegment{parts[0], parts[1], parts[2]}, true
}

type walSegment struct{ tli, hi, lo uint64 }

// after names the segment n after s for segments of size bytes, as
// Postgres numbers them: 4 GiB of WAL to each high part.
func (s walSegment) after(n, size uint64) string {
	perHi := uint64(1<<32) / size
	no := s.hi*perHi + s.lo + n
	return fmt.Sprintf("%08X%08X%08X", s.tli, no/perHi, no%perHi)
}
