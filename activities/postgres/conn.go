package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/drctl/drctl/activities/backup"
	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/internal/pglocal"
)

// Target is what the postgres steps know of an environment.
type Target struct {
	Name      string
	Role      string // "source" or "target"
	Database  string
	URL       secret.Ref
	OldSuffix string
	Instance  *InstanceConfig
	// SystemID pins the system identifier backups must be taken of.
	SystemID string
}

// MainInstance is the name of an environment's own local instance.
const MainInstance = "main"

// Postgres holds the postgres.* activities. The worker registers it with
// the prefix "postgres.".
type Postgres struct {
	Targets func(env string) (*Target, error)
	Stores  func(env, store string) (*backup.StoreConfig, error)
	// WALCommand is the argv that runs drctl with its environments file
	// ([/usr/local/bin/drctl --config /etc/drctl/drctl.yaml]); recovered
	// instances fetch archived WAL through its wal-fetch.
	WALCommand []string
	// ServerEnv names the worker's variables that the local instances'
	// servers get: those their WAL commands' secret references read.
	ServerEnv []string
}

func nonRetryable(kind, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil)
}

func (p *Postgres) target(env string) (*Target, error) {
	if p.Targets == nil {
		return nil, nonRetryable("NoConfig", "this worker has no environments file")
	}
	if env == "" {
		return nil, nonRetryable("BadInput", "the step was not given its run's environment")
	}
	t, err := p.Targets(env)
	if err != nil {
		return nil, nonRetryable("NoEnvironment", "%v", err)
	}
	return t, nil
}

// endpoint is where and as whom to connect: the environment's database
// URL, pointed at another local instance when one is named.
type endpoint struct {
	cfg *pgx.ConnConfig
	// sslmode is kept for the command-line tools.
	sslmode string
}

func (p *Postgres) endpoint(ctx context.Context, t *Target, instance, database string) (*endpoint, error) {
	raw, err := t.URL.Resolve(ctx)
	if err != nil {
		return nil, nonRetryable("NoSecret", "%v", err)
	}
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's message may quote the URL with its password.
		return nil, nonRetryable("BadURL", "the database URL %s of environment %s is not a valid connection string", t.URL, t.Name)
	}
	sslmode := "prefer"
	if u, err := url.Parse(raw); err == nil && u.Query().Get("sslmode") != "" {
		sslmode = u.Query().Get("sslmode")
	}
	if instance != "" && instance != MainInstance {
		if t.Instance == nil || t.Instance.Provider != "local" || t.Instance.DataDir == "" {
			return nil, nonRetryable("BadInput", "instance %s: environment %s has no local instances (instance.provider local with a data_dir)", instance, t.Name)
		}
		l, ok, err := pglocal.Open(t.Instance.DataDir, instance)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, nonRetryable("NoInstance", "environment %s has no instance %s", t.Name, instance)
		}
		cfg.Host, cfg.Port = l.Host(), uint16(l.Port)
		cfg.TLSConfig, sslmode = nil, "disable"
	}
	if cfg.Password == "" && cfg.User == "postgres" && t.Instance != nil && t.Instance.Provider == "local" && t.Instance.DataDir != "" {
		// A URL without a password reaches a local instance with the one
		// drctl generated for it.
		if l, ok, _ := pglocal.Open(t.Instance.DataDir, instanceName(instance)); ok {
			cfg.Password = l.Password()
		}
	}
	if database != "" {
		cfg.Database = database
	}
	return &endpoint{cfg: cfg, sslmode: sslmode}, nil
}

func (e *endpoint) connect(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, e.cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", e, err)
	}
	return c, nil
}

// answers says why the endpoint's instance does not answer, if it does
// not, within a few seconds.
func (e *endpoint) answers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := e.connect(ctx)
	if err != nil {
		return fmt.Errorf("the instance no longer answers: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	return c.Ping(ctx)
}

// String names the endpoint without its password.
func (e *endpoint) String() string {
	return fmt.Sprintf("postgres://%s@%s/%s", e.cfg.User, hostPort(e.cfg), e.cfg.Database)
}

func hostPort(cfg *pgx.ConnConfig) string {
	return cfg.Host + ":" + strconv.Itoa(int(cfg.Port))
}

// toolEnv is the environment that points pg_dump and pg_restore at the
// endpoint: the password goes in PGPASSWORD, never on a command line that
// any user of the host can read.
func (e *endpoint) toolEnv(database string) []string {
	if database == "" {
		database = e.cfg.Database
	}
	return []string{"PGHOST=" + e.cfg.Host, "PGPORT=" + strconv.Itoa(int(e.cfg.Port)), "PGUSER=" + e.cfg.User,
		"PGPASSWORD=" + e.cfg.Password, "PGDATABASE=" + database, "PGSSLMODE=" + e.sslmode, "PGCONNECT_TIMEOUT=30"}
}

// open connects to a database of an instance of the environment.
func (p *Postgres) open(ctx context.Context, t *Target, instance, database string) (*pgx.Conn, *endpoint, error) {
	ep, err := p.endpoint(ctx, t, instance, database)
	if err != nil {
		return nil, nil, err
	}
	c, err := ep.connect(ctx)
	return c, ep, err
}

// admin connects to the instance's maintenance database.
func (p *Postgres) admin(ctx context.Context, t *Target, instance string) (*pgx.Conn, *endpoint, error) {
	return p.open(ctx, t, instance, "postgres")
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// qualified quotes "schema.table" (or "table") as an identifier.
func qualified(name string) string {
	return pgx.Identifier(strings.SplitN(name, ".", 2)).Sanitize()
}

func dbExists(ctx context.Context, c *pgx.Conn, name string) (bool, error) {
	var n int
	err := c.QueryRow(ctx, "select count(*) from pg_database where datname = $1", name).Scan(&n)
	return n > 0, err
}

// dbComment reads the comment drctl leaves on databases it creates.
func dbComment(ctx context.Context, c *pgx.Conn, name string) (string, error) {
	var comment *string
	err := c.QueryRow(ctx, "select shobj_description(oid, 'pg_database') from pg_database where datname = $1", name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) || comment == nil {
		return "", nil
	}
	return *comment, err
}

// querier is a connection or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// userTables names every user table as "schema.table", the largest first
// (partitions are counted and analyzed through their parent).
func userTables(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.Query(ctx, `select n.nspname, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
		and not c.relispartition order by pg_total_relation_size(c.oid) desc, 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			return nil, err
		}
		names = append(names, schema+"."+table)
	}
	return names, rows.Err()
}

func countRows(ctx context.Context, q querier, table string) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, "select count(*) from "+qualified(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s: %w", table, err)
	}
	return n, nil
}

// tableCounts counts the rows of every user table, exactly.
func tableCounts(ctx context.Context, q querier) (map[string]int64, error) {
	names, err := userTables(ctx, q)
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int64, len(names))
	for _, name := range names {
		if counts[name], err = countRows(ctx, q, name); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

// countConns is how many tables a check counts at once.
const countConns = 4

// countTables counts every user table's rows exactly, each of up to conns
// connections taking one table at a time, the largest first: counting
// reads every table whole, and one connection uses one core of the
// server. With analyze, each table's planner statistics are gathered
// after its count, whose reading set the hint bits of every row, so the
// sample ANALYZE reads is cheap to read.
func countTables(ctx context.Context, connect func(context.Context) (*pgx.Conn, error), conns int, analyze bool) (map[string]int64, error) {
	// Heartbeats from the first query on: a listing that waits on a lock
	// shows a live worker, and one abandoned by a timeout hears of it.
	var (
		mu     sync.Mutex
		counts = map[string]int64{}
		tables []string
	)
	done := make(chan struct{})
	defer close(done)
	go heartbeatUntil(ctx, done, func() any {
		mu.Lock()
		defer mu.Unlock()
		return map[string]any{"phase": "count tables", "done": len(counts), "of": len(tables)}
	})
	c, err := connect(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	listed, err := userTables(ctx, c)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	tables = listed
	mu.Unlock()
	next := make(chan string, len(listed))
	for _, table := range listed {
		next <- table
	}
	close(next)
	g, gctx := errgroup.WithContext(ctx)
	for i := range max(1, min(conns, len(listed))) {
		g.Go(func() error {
			conn := c
			if i > 0 {
				var err error
				if conn, err = connect(gctx); err != nil {
					return err
				}
				defer conn.Close(context.WithoutCancel(gctx))
			}
			for table := range next {
				n, err := countRows(gctx, conn, table)
				if err != nil {
					return err
				}
				if analyze {
					if _, err := conn.Exec(gctx, "analyze "+qualified(table)); err != nil {
						return fmt.Errorf("analyzing %s: %w", table, err)
					}
				}
				mu.Lock()
				counts[table] = n
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return counts, nil
}
