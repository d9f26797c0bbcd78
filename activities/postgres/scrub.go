package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/stepio"
)

func nonRetryableDetails(kind string, details any, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil, details)
}

// scrubExpr is the SQL a scrub action sets a column to; $1 is the rule's
// value. Fakes are derived from the original (so joins on them still line
// up) but carry none of it.
func scrubExpr(action, column string) (string, error) {
	c := ident(column)
	switch action {
	case "null":
		return "null", nil
	case "fixed":
		return "$1", nil
	case "hash":
		return fmt.Sprintf("encode(sha256(convert_to(%s::text, 'UTF8')), 'hex')", c), nil
	case "fake_email":
		return fmt.Sprintf("'user-' || substr(md5(%s::text), 1, 12) || '@example.invalid'", c), nil
	case "fake_name":
		return fmt.Sprintf("'Person ' || upper(substr(md5(%s::text), 1, 6))", c), nil
	}
	return "", nonRetryable("BadInput", "unknown scrub action %q", action)
}

// Scrub replaces personal data, all rules in one transaction: either every
// column is scrubbed or none is. It never runs on a source environment.
func (p *Postgres) Scrub(ctx context.Context, in ScrubInput) (ScrubOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return ScrubOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return ScrubOutput{}, err
	}
	if t.Role != "target" {
		return ScrubOutput{}, nonRetryable("Refused", "environment %s is not a target: scrubbing runs only on restored copies", t.Name)
	}
	c, _, err := p.open(ctx, t, "", in.Database)
	if err != nil {
		return ScrubOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	out := ScrubOutput{}
	tables := map[string]bool{}
	err = pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		for _, r := range in.Rules {
			expr, err := scrubExpr(r.Action, r.Column)
			if err != nil {
				return err
			}
			var args []any
			if r.Action == "fixed" {
				args = append(args, r.Value)
			}
			conds := []string{"true"}
			if r.Action != "null" {
				conds = append(conds, ident(r.Column)+" is not null")
			}
			for _, k := range in.Keep {
				if k.Table == r.Table {
					args = append(args, k.Values)
					conds = append(conds, fmt.Sprintf("coalesce(%s::text, '') <> all($%d)", ident(k.Column), len(args)))
				}
			}
			q := fmt.Sprintf("update %s set %s = %s where %s", qualified(r.Table), ident(r.Column), expr, strings.Join(conds, " and "))
			tag, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("scrubbing %s.%s: %w", r.Table, r.Column, err)
			}
			out.Rows += tag.RowsAffected()
			tables[r.Table] = true
		}
		return nil
	})
	out.Tables = len(tables)
	return out, err
}

// PromoteAccounts makes the named test accounts administrators, with the
// names passed as parameters, never spliced into SQL.
func (p *Postgres) PromoteAccounts(ctx context.Context, in PromoteAccountsInput) (PromoteAccountsOutput, error) {
	if err := stepio.CheckInput(in); err != nil {
		return PromoteAccountsOutput{}, err
	}
	t, err := p.target(in.Run.Env)
	if err != nil {
		return PromoteAccountsOutput{}, err
	}
	if t.Role != "target" {
		return PromoteAccountsOutput{}, nonRetryable("Refused", "environment %s is not a target: test accounts are promoted only on restored copies", t.Name)
	}
	c, _, err := p.open(ctx, t, "", in.Database)
	if err != nil {
		return PromoteAccountsOutput{}, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	q := fmt.Sprintf("update %s set %s = $1 where %s::text = any($2) returning %s::text",
		qualified(in.Table), ident(in.RoleColumn), ident(in.MatchColumn), ident(in.MatchColumn))
	out := PromoteAccountsOutput{Missing: []string{}}
	// One transaction: an account missing undoes the others, so the step
	// either did all it was asked or nothing.
	err = pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q, in.Role, in.Accounts)
		if err != nil {
			return fmt.Errorf("promoting accounts in %s: %w", in.Table, err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		out.Updated = int64(len(found))
		for _, a := range in.Accounts {
			if !slices.Contains(found, a) {
				out.Missing = append(out.Missing, a)
			}
		}
		if len(out.Missing) > 0 && !in.AllowMissing {
			return nonRetryable("MissingAccounts", "%d of %d accounts are not in %s.%s: %s (nothing was promoted; allow_missing: true promotes the others)",
				len(out.Missing), len(in.Accounts), in.Table, in.MatchColumn, strings.Join(out.Missing, ", "))
		}
		return nil
	})
	return out, err
}
