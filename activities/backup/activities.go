package backup

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/stepio"
)

// DefaultStore is the store backups go to and come from when a step names
// none.
const DefaultStore = "backups"

// Backup holds the backup.* and storage.compare activities. The worker
// registers it with the prefix "backup.".
type Backup struct {
	// Stores finds the config of an environment's store.
	Stores func(env, store string) (*StoreConfig, error)
}

// OpenStore opens one of an environment's stores (DefaultStore when store
// is empty).
func (b *Backup) OpenStore(ctx context.Context, env, store string) (Store, error) {
	if store == "" {
		store = DefaultStore
	}
	if b.Stores == nil {
		return nil, temporal.NewNonRetryableApplicationError("this worker has no environments file", "NoConfig", nil)
	}
	cfg, err := b.Stores(env, store)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "NoStore", nil)
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("environment %s, store %s: %w", env, store, err)
	}
	return s, nil
}

// Latest finds the newest complete backup of a datastore (on a date), by
// its recorded stop time; never by modification time or a pointer file.
func (b *Backup) Latest(ctx context.Context, in LatestInput) (Entry, error) {
	if err := stepio.CheckInput(in); err != nil {
		return Entry{}, err
	}
	s, err := b.OpenStore(ctx, in.Env, in.Store)
	if err != nil {
		return Entry{}, err
	}
	defer s.Close()
	all, damaged, err := Scan(ctx, s, in.Env+"/")
	if err != nil {
		return Entry{}, err
	}
	all = slices.DeleteFunc(all, func(e Entry) bool { return e.Datastore != in.Datastore })
	var day []Entry
	for _, e := range all {
		if in.Date == "" || dateOf(e.Key) == in.Date {
			day = append(day, e)
		}
	}
	// A damaged backup newer than the newest good one is never passed over
	// in silence: the step fails naming it, or, where the runbook allows
	// falling back, says what it passed over.
	var newer []Damaged
	for _, d := range damaged {
		if d.Datastore == in.Datastore && (in.Date == "" || dateOf(d.Key) == in.Date) && (len(day) == 0 || d.At.After(day[len(day)-1].StoppedAt)) {
			newer = append(newer, d)
		}
	}
	if len(newer) > 0 && !in.AllowFallback {
		d := newer[len(newer)-1]
		older := "there is no older complete one"
		if len(day) > 0 {
			older = "the newest complete one is " + day[len(day)-1].Key + " (allow_fallback: true takes it)"
		}
		return Entry{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the newest backup of %s in %s, %s, is damaged: %s; %s", in.Datastore, s, d.Key, d.Reason, older), "DamagedBackup", nil)
	}
	if len(day) == 0 {
		what := "any date"
		if in.Date != "" {
			what = in.Date
		}
		newest := "there are none at all"
		if n := len(all); n > 0 {
			var keys []string
			for i := n - 1; i >= 0 && i >= n-5; i-- {
				keys = append(keys, fmt.Sprintf("%s (stopped %s)", all[i].Key, all[i].StoppedAt.Format(time.RFC3339)))
			}
			newest = "the newest are " + strings.Join(keys, ", ")
		}
		return Entry{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no complete backup of %s on %s in %s; %s", in.Datastore, what, s, newest), "NoBackup", nil)
	}
	latest := day[len(day)-1]
	for _, d := range newer {
		latest.SkippedDamaged = append(latest.SkippedDamaged, d.Key+": "+d.Reason)
	}
	return latest, nil
}

// List lists the complete backups between two dates, oldest first.
func (b *Backup) List(ctx context.Context, in ListInput) (ListOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return ListOutput{}, err
	}
	s, err := b.OpenStore(ctx, in.Env, in.Store)
	if err != nil {
		return ListOutput{}, err
	}
	defer s.Close()
	return ListStore(ctx, s, in)
}

// ListStore is List in a store already open (in.Store is not read).
func ListStore(ctx context.Context, s Store, in ListInput) (ListOutput, error) {
	all, damaged, err := Scan(ctx, s, in.Env+"/")
	if err != nil {
		return ListOutput{}, err
	}
	out := ListOutput{Entries: []Entry{}, Damaged: []Damaged{}}
	wanted := func(key, datastore string) bool {
		d := dateOf(key)
		return (in.Datastore == "" || datastore == in.Datastore) && (in.From == "" || d >= in.From) && (in.To == "" || d <= in.To)
	}
	for _, e := range all {
		if wanted(e.Key, e.Datastore) {
			out.Entries = append(out.Entries, e)
		}
	}
	for _, d := range damaged {
		if wanted(d.Key, d.Datastore) {
			out.Damaged = append(out.Damaged, d)
		}
	}
	out.Count = len(out.Entries)
	return out, nil
}

// Prune keeps the newest backup of each of the last KeepDaily days and of
// each of the last KeepWeekly ISO weeks, and deletes the rest. The newest
// backup, and the newest verified one, are never deleted.
func (b *Backup) Prune(ctx context.Context, in PruneInput) (PruneOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return PruneOutput{}, err
	}
	if in.KeepDaily < 1 {
		return PruneOutput{}, temporal.NewNonRetryableApplicationError("keep_daily must be at least 1", "BadInput", nil)
	}
	if in.Run.Env == "" || in.Env != in.Run.Env {
		return PruneOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"a run on %q may not prune the backups of environment %q: a run changes only its own environment's backups", in.Run.Env, in.Env), "OtherEnvironment", nil)
	}
	s, err := b.OpenStore(ctx, in.Env, in.Store)
	if err != nil {
		return PruneOutput{}, err
	}
	defer s.Close()
	all, err := Entries(ctx, s, in.Env+"/")
	if err != nil {
		return PruneOutput{}, err
	}
	all = slices.DeleteFunc(all, func(e Entry) bool { return e.Datastore != in.Datastore })
	keep := retained(all, in.KeepDaily, in.KeepWeekly)
	out := PruneOutput{Deleted: []string{}}
	for _, e := range all {
		if keep[e.Key] {
			out.Kept++
			continue
		}
		// The record goes first: from then on the backup is not listed,
		// even if deleting the data fails half-way.
		if err := s.Delete(ctx, e.Key+metaSuffix); err != nil {
			return out, fmt.Errorf("deleting %s: %w", e.Key, err)
		}
		if err := s.Delete(ctx, e.Key); err != nil {
			return out, fmt.Errorf("deleting %s: %w", e.Key, err)
		}
		out.Deleted = append(out.Deleted, e.Key)
		activity.RecordHeartbeat(ctx, map[string]any{"deleted": len(out.Deleted)})
	}
	swept, err := SweepAbandoned(ctx, s, in.Env+"/", time.Now())
	out.Abandoned = append([]string{}, swept...)
	return out, err
}

// retained decides which backups (sorted by stop time) a retention policy
// keeps.
func retained(all []Entry, daily, weekly int) map[string]bool {
	keep := map[string]bool{}
	if len(all) == 0 {
		return keep
	}
	keep[all[len(all)-1].Key] = true
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].VerifiedAt != nil {
			keep[all[i].Key] = true
			break
		}
	}
	days, weeks := map[string]bool{}, map[string]bool{}
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		d := dateOf(e.Key)
		y, w := e.StoppedAt.ISOWeek()
		week := fmt.Sprintf("%d-%02d", y, w)
		if !days[d] && len(days) < daily {
			days[d] = true
			keep[e.Key] = true
		}
		if !weeks[week] && len(weeks) < weekly {
			weeks[week] = true
			keep[e.Key] = true
		}
	}
	return keep
}

// Compare compares two locations object by object: what the copy misses,
// what it has extra, and what differs in size or content.
func (b *Backup) Compare(ctx context.Context, in CompareInput) (CompareOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return CompareOutput{}, err
	}
	src, err := b.OpenStore(ctx, in.Source.Env, in.Source.Store)
	if err != nil {
		return CompareOutput{}, err
	}
	defer src.Close()
	cp, err := b.OpenStore(ctx, in.Copy.Env, in.Copy.Store)
	if err != nil {
		return CompareOutput{}, err
	}
	defer cp.Close()
	max := in.MaxNames
	if max <= 0 {
		max = 100
	}
	srcObjs, err := src.List(ctx, in.Source.Prefix)
	if err != nil {
		return CompareOutput{}, err
	}
	cpObjs, err := cp.List(ctx, in.Copy.Prefix)
	if err != nil {
		return CompareOutput{}, err
	}
	index := func(objs []Object, prefix string) map[string]Object {
		m := make(map[string]Object, len(objs))
		for _, o := range objs {
			m[strings.TrimPrefix(o.Key, prefix)] = o
		}
		return m
	}
	srcIdx, cpIdx := index(srcObjs, in.Source.Prefix), index(cpObjs, in.Copy.Prefix)
	out := CompareOutput{MissingNames: []string{}, ExtraNames: []string{}, ChangedNames: []string{}}
	note := func(list *[]string, count *int64, name string) {
		*count++
		if len(*list) < max {
			*list = append(*list, name)
		}
	}
	names := make([]string, 0, len(srcIdx))
	for name := range srcIdx {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		o := srcIdx[name]
		out.SourceObjects++
		out.SourceBytes += o.Size
		c, ok := cpIdx[name]
		switch {
		case !ok:
			note(&out.MissingNames, &out.Missing, name)
		case c.Size != o.Size:
			note(&out.ChangedNames, &out.Changed, name)
		case !in.SizeOnly:
			same, err := sameContent(ctx, src, o.Key, cp, c.Key)
			if err != nil {
				return out, err
			}
			if !same {
				note(&out.ChangedNames, &out.Changed, name)
			}
		}
		if i%50 == 0 {
			activity.RecordHeartbeat(ctx, map[string]any{"phase": "comparing", "done": i, "of": len(names)})
		}
	}
	cpNames := make([]string, 0, len(cpIdx))
	for name, c := range cpIdx {
		out.CopyObjects++
		out.CopyBytes += c.Size
		if _, ok := srcIdx[name]; !ok {
			cpNames = append(cpNames, name)
		}
	}
	sort.Strings(cpNames)
	for _, name := range cpNames {
		note(&out.ExtraNames, &out.Extra, name)
	}
	// A copy whose bytes differ from the source's restores the wrong
	// image as surely as a missing one restores none.
	if out.Missing+out.Changed > int64(in.Tolerance) {
		examples := slices.Concat(out.MissingNames, out.ChangedNames)
		examples = examples[:min(len(examples), 5)]
		return out, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d objects of %s are missing from %s and %d differ (tolerance %d), e.g. %s", out.Missing, src, cp, out.Changed, in.Tolerance,
				strings.Join(examples, ", ")), "Incomplete", nil, out)
	}
	return out, nil
}

// sameContent streams both objects through sha256.
func sameContent(ctx context.Context, a Store, ak string, b Store, bk string) (bool, error) {
	ha, err := hashObject(ctx, a, ak)
	if err != nil {
		return false, err
	}
	hb, err := hashObject(ctx, b, bk)
	if err != nil {
		return false, err
	}
	return ha == hb, nil
}

func hashObject(ctx context.Context, s Store, key string) ([32]byte, error) {
	r, err := s.Get(ctx, key)
	if err != nil {
		return [32]byte{}, err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return [32]byte{}, fmt.Errorf("reading %s in %s: %w", key, s, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
}
