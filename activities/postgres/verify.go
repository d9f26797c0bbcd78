package postgres

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/activity"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/stepio"
)

// Verify proves that restored data is real and recent: not empty, every
// table's row count within tolerance of the backup's recorded counts, the
// newest event younger than max_age (its age is the measured RPO), and the
// named schema objects present. Every check is in the output; a failure
// names what failed.
func (p *Postgres) Verify(ctx context.Context, in VerifyInput) (VerifyOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return VerifyOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return VerifyOutput{}, err
	}
	// Heartbeats from the first query on: a listing that waits on a lock
	// shows a live worker, and a verify abandoned by a timeout or a cancel
	// hears of it and stops.
	activity.RecordHeartbeat(ctx, map[string]any{"phase": "verify"})
	done := make(chan struct{})
	defer close(done)
	go heartbeatUntil(ctx, done, func() any { return map[string]any{"phase": "verify"} })
	c, ep, err := p.open(ctx, t, in.Instance, in.Database)
	if err != nil {
		return VerifyOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	counts, err := countTables(ctx, ep.connect, countConns, false)
	if err != nil {
		return VerifyOutput{}, err
	}
	out := VerifyOutput{OK: true, Rows: backup.TotalRows(counts)}
	check := func(name, expected, actual string, ok bool) {
		out.Checks = append(out.Checks, Check{Name: name, Expected: expected, Actual: actual, OK: ok})
		out.OK = out.OK && ok
	}
	minRows := max(in.MinRows, 1)
	found := fmt.Sprintf("%d rows in %d tables", out.Rows, len(counts))
	if out.Rows < minRows {
		// Which tables were looked at is what the person reading this
		// needs to know next.
		found += " (" + strings.Join(slices.Sorted(maps.Keys(counts)), ", ") + ")"
	}
	check("not empty", fmt.Sprintf(">= %d rows", minRows), found, out.Rows >= minRows)

	names := make([]string, 0, len(in.Expected))
	for name := range in.Expected {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		want := in.Expected[name]
		got, ok := counts[name]
		if !ok {
			check("table "+name, fmt.Sprintf("%d rows", want), "missing", false)
			continue
		}
		slack := int64(math.Ceil(in.Tolerance * float64(want)))
		check("rows in "+name, fmt.Sprintf("%d ± %d", want, slack), fmt.Sprint(got), abs(got-want) <= slack)
	}
	for _, name := range in.Tables {
		got, ok := counts[name]
		check("rows in "+name, "> 0", fmt.Sprint(got), ok && got > 0)
	}
	if in.Events != nil {
		var newest *time.Time
		var now time.Time
		q := fmt.Sprintf("select max(%s)::timestamptz, now() from %s", ident(in.Events.Column), qualified(in.Events.Table))
		err := c.QueryRow(ctx, q).Scan(&newest, &now)
		switch {
		case err != nil:
			check("newest event in "+in.Events.Table, "readable", firstLine(err), false)
		case newest == nil:
			check("newest event in "+in.Events.Table, "younger than "+stepio.Duration(in.Events.MaxAge).String(), "no events at all", false)
		default:
			age := now.Sub(*newest)
			out.NewestEvent, out.RPO = newest.UTC(), stepio.Duration(age.Round(time.Second))
			check("newest event in "+in.Events.Table, "younger than "+stepio.Duration(in.Events.MaxAge).String(),
				fmt.Sprintf("%s (%s old)", newest.UTC().Format(time.RFC3339), age.Round(time.Second)), age <= time.Duration(in.Events.MaxAge))
		}
	}
	for _, obj := range in.Objects {
		var found *string
		if err := c.QueryRow(ctx, "select to_regclass($1)::text", obj).Scan(&found); err != nil {
			return out, err
		}
		check("object "+obj, "present", map[bool]string{true: "present", false: "missing"}[found != nil], found != nil)
	}
	if !out.OK {
		var failed []string
		for _, ch := range out.Checks {
			if !ch.OK {
				failed = append(failed, fmt.Sprintf("%s: expected %s, found %s", ch.Name, ch.Expected, ch.Actual))
			}
		}
		return out, nonRetryableDetails("VerifyFailed", out, "verification of %s failed: %s", in.Database, strings.Join(failed, "; "))
	}
	if in.Backup != "" {
		if err := p.markVerified(ctx, in); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (p *Postgres) markVerified(ctx context.Context, in VerifyInput) error {
	from := cmp.Or(in.From, in.Run.Env)
	s, _, err := p.store(ctx, from, in.Store)
	if err != nil {
		return err
	}
	defer s.Close()
	e, err := findEntry(ctx, s, from, in.Backup)
	if err != nil {
		return err
	}
	return backup.MarkVerified(ctx, s, e, time.Now())
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// LatestEvents reads the newest rows of an events table.
func (p *Postgres) LatestEvents(ctx context.Context, in LatestEventsInput) (LatestEventsOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return LatestEventsOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return LatestEventsOutput{}, err
	}
	c, _, err := p.open(ctx, t, "", in.Database)
	if err != nil {
		return LatestEventsOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	cols := "*"
	if len(in.Columns) > 0 {
		quoted := make([]string, len(in.Columns))
		for i, col := range in.Columns {
			quoted[i] = ident(col)
		}
		cols = strings.Join(quoted, ", ")
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 10
	}
	rows, err := c.Query(ctx, fmt.Sprintf("select %s from %s order by %s desc limit %d", cols, qualified(in.Table), ident(in.OrderBy), limit))
	if err != nil {
		return LatestEventsOutput{}, fmt.Errorf("reading %s: %w", in.Table, err)
	}
	maps, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		return LatestEventsOutput{}, err
	}
	out := LatestEventsOutput{Rows: make([]map[string]any, len(maps))}
	for _, fd := range rows.FieldDescriptions() {
		out.Columns = append(out.Columns, fd.Name)
	}
	for i, m := range maps {
		for k, v := range m {
			m[k] = jsonable(v)
		}
		out.Rows[i] = m
	}
	return out, nil
}

// jsonable turns driver values into what reads well in JSON.
func jsonable(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	}
	return v
}
