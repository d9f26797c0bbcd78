package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/postgres"
	"github.com/drctl/drctl/runbooks"
)

// newBackupsCmd lists an environment's backups from their metadata
// records, the question an operator asks first in an outage: what is
// there, where, how recent, and does it hold anything. It reads the
// stores directly, with no worker or Temporal server, and never decrypts.
// A store that cannot be read is reported and the others are still
// listed.
func newBackupsCmd(g *globals) *cobra.Command {
	var (
		c      conn
		in     backup.ListInput
		stores []string
		asJSON bool
		verify bool
	)
	cmd := &cobra.Command{
		Use: "backups --env NAME [--store NAME]... [--datastore DB] [--from DATE] [--to DATE]",
		Example: `  drctl backups --env production
  drctl backups --env production --store offsite --from 2026-11-01 --json`,
		Short: "list an environment's complete backups in each of its stores (size, rows, verification) and its point-in-time window",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, d := range []string{in.From, in.To} {
				if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
					return &exitError{code: exitUsage, msg: fmt.Sprintf("%q is not a date (yyyy-mm-dd)", d)}
				}
			}
			cfg, err := runbooks.LoadConfig(g.config)
			if err != nil {
				return failed("%v", err)
			}
			if len(stores) == 0 {
				e, err := cfg.Environment(in.Env)
				if err != nil {
					return failed("%v", err)
				}
				stores = slices.Sorted(maps.Keys(e.Stores))
			}
			out := cmd.OutOrStdout()
			listed := map[string]storeListing{}
			var unread []string
			for _, name := range stores {
				l, err := listStore(cmd.Context(), cfg, in, name, verify)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "drctl: %v\n", stepFailed(err))
					unread = append(unread, name)
					continue
				}
				listed[name] = l
				if asJSON {
					continue
				}
				if len(listed) > 1 {
					fmt.Fprintln(out)
				}
				if err := l.print(out, name, in.Env); err != nil {
					return err
				}
			}
			if asJSON {
				if err := printJSON(out, listed); err != nil {
					return err
				}
			}
			if !asJSON {
				drillsOf(cmd.Context(), out, cmd.ErrOrStderr(), &c, in.Env)
			}
			if len(unread) > 0 {
				return failed("%d of %d stores could not be read: %s", len(unread), len(stores), strings.Join(unread, ", "))
			}
			damaged := 0
			for _, l := range listed {
				damaged += len(l.Damaged)
			}
			if damaged > 0 {
				return failed("%d damaged backups: a restore cannot use them", damaged)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&in.Env, "env", "", "environment whose backups to list")
	cmd.Flags().StringSliceVar(&stores, "store", nil, "store to list (repeat, or comma-separated; default: every store of the environment)")
	cmd.Flags().StringVar(&in.Datastore, "datastore", "", "only this datastore's backups")
	cmd.Flags().StringVar(&in.From, "from", "", "first date (yyyy-mm-dd, UTC)")
	cmd.Flags().StringVar(&in.To, "to", "", "last date (yyyy-mm-dd, UTC)")
	cmd.Flags().BoolVar(&verify, "verify", false, "also read every backup back and check its size and sha256 against its record")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each store's entries with all their metadata as JSON")
	_ = cmd.MarkFlagRequired("env")
	c.register(cmd)
	return cmd
}

// drillsOf says whether the drills that prove env's backups restorable
// have passed within their schedules: an overdue drill means the newest
// backups are unproven. The stores are read without a server; the drills
// need one, and a listing without it says they were not checked.
func drillsOf(ctx context.Context, out, errw io.Writer, c *conn, env string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := c.dial(ctx)
	if err != nil {
		fmt.Fprintf(errw, "drctl: drills not checked: %v\n", err)
		return
	}
	defer cl.Close()
	drills, err := listDrills(ctx, cl, c.namespace, time.Now())
	if err != nil {
		fmt.Fprintf(errw, "drctl: drills not checked: %v\n", err)
		return
	}
	var mine []drillSummary
	for _, d := range drills {
		if slices.Contains(d.Envs, env) {
			mine = append(mine, d)
		}
	}
	fmt.Fprintln(out)
	if len(mine) == 0 {
		fmt.Fprintf(out, "drills: none restores %s's backups: nothing proves they restore (drctl drill --help)\n", env)
		return
	}
	for _, d := range mine {
		switch {
		case d.Overdue:
			fmt.Fprintf(out, "drill %s: OVERDUE, last success %s: %s's newest backups are unproven\n", d.ID, orNever(d.LastSuccess), env)
		case d.Paused:
			fmt.Fprintf(out, "drill %s: paused, last success %s\n", d.ID, orNever(d.LastSuccess))
		default:
			fmt.Fprintf(out, "drill %s: last success %s, next %s\n", d.ID, orNever(d.LastSuccess), d.Next.UTC().Format(time.DateTime))
		}
	}
}

func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.DateTime)
}

// storeListing is what one store holds of an environment's: its dumps
// and what its base backups and WAL archive let a recovery reach.
type storeListing struct {
	backup.ListOutput
	PointInTime postgres.Window `json:"point_in_time"`
}

func listStore(ctx context.Context, cfg *runbooks.Config, in backup.ListInput, name string, verify bool) (storeListing, error) {
	s, err := (&backup.Backup{Stores: cfg.Store}).OpenStore(ctx, in.Env, name)
	if err != nil {
		return storeListing{}, err
	}
	defer s.Close()
	var l storeListing
	if l.ListOutput, err = backup.ListStore(ctx, s, in); err != nil {
		return l, err
	}
	if verify {
		// Read back, a backup whose bytes changed is damaged too.
		good := l.Entries[:0]
		for _, e := range l.Entries {
			why, err := backup.CheckStored(ctx, s, e)
			if err != nil {
				return l, err
			}
			if why == "" {
				good = append(good, e)
				continue
			}
			l.Damaged = append(l.Damaged, backup.Damaged{Key: e.Key, Datastore: e.Datastore, At: e.StoppedAt, Reason: why})
		}
		l.Entries, l.Count = good, len(good)
	}
	l.PointInTime, err = postgres.ArchiveWindow(ctx, s, in.Env)
	return l, err
}

func (l storeListing) print(w io.Writer, store, env string) error {
	if l.Count == 0 {
		fmt.Fprintf(w, "store %s: no complete backups of %s in that range\n", store, env)
	} else {
		fmt.Fprintf(w, "store %s:\n", store)
		if err := printBackups(w, l.Entries); err != nil {
			return err
		}
	}
	for _, d := range l.Damaged {
		fmt.Fprintf(w, "DAMAGED %s  %s: %s\n", d.At.UTC().Format(time.DateTime), d.Key, d.Reason)
	}
	pit := l.PointInTime
	switch {
	case len(pit.Bases) > 0 && !pit.NewestWAL.IsZero() && pit.NewestWAL.Before(pit.Bases[0].StoppedAt):
		// WAL archived before the oldest base backup ended reaches no
		// moment a recovery can stop at.
		fmt.Fprintf(w, "point in time: none yet (base backups: %d, the oldest ended %s; archived WAL reaches only %s: force a WAL switch on the source)\n",
			len(pit.Bases), pit.Bases[0].StoppedAt.UTC().Format(time.DateTime), pit.NewestWAL.UTC().Format(time.DateTime))
	case len(pit.Bases) > 0 && !pit.NewestWAL.IsZero():
		fmt.Fprintf(w, "point in time: from %s to %s (UTC; base backups: %d, WAL segments: %d)\n",
			pit.Bases[0].StoppedAt.UTC().Format(time.DateTime), pit.NewestWAL.UTC().Format(time.DateTime), len(pit.Bases), pit.Segments)
	case len(pit.Bases) > 0:
		fmt.Fprintf(w, "point in time: none yet (base backups: %d, but no archived WAL)\n", len(pit.Bases))
	case pit.Segments > 0:
		fmt.Fprintf(w, "point in time: none (WAL segments: %d, but no base backup to start from)\n", pit.Segments)
	}
	return nil
}

// printBackups prints backups as a table, one line each.
func printBackups(w io.Writer, entries []backup.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STOPPED (UTC)\tDATASTORE\tSIZE\tROWS\tVERIFIED\tKEY")
	for _, e := range entries {
		verified := "—"
		if e.VerifiedAt != nil {
			verified = e.VerifiedAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.StoppedAt.UTC().Format(time.DateTime), e.Datastore,
			humanize.IBytes(uint64(max(e.Size, 0))), rows(e), verified, e.Key)
	}
	return tw.Flush()
}

// rows is a backup's total of recorded rows; a backup that recorded its
// tables and holds no rows says so loudly.
func rows(e backup.Entry) string {
	if e.RowCounts == nil {
		return "—"
	}
	n := backup.TotalRows(e.RowCounts)
	if n == 0 {
		return "0 EMPTY"
	}
	return fmt.Sprint(n)
}
