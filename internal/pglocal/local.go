// Package pglocal makes and runs PostgreSQL instances on this host for
// the local provider: one folder per instance under an environment's
// data_dir, holding its data, its log, the superuser's password and a
// record of what drctl made. It exists because a recovery that rebuilds
// an instance must do so the same way every time, idempotently, never
// touching a folder drctl did not make; initdb and postgres refuse to run
// as root, so as root they run as the postgres user.
package pglocal

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/freeport"
)

const localRecord = "drctl-instance.json"

// Instance is a cluster on this host.
type Instance struct {
	Name     string            `json:"name"`
	Dir      string            `json:"dir"`
	Port     int               `json:"port"`
	Settings map[string]string `json:"settings,omitempty"`
	// CreatedBy says which run created the instance: set when drctl made
	// it, so drctl may destroy it.
	CreatedBy string `json:"created_by,omitempty"`
	// Promoted is set once a recovered instance has been promoted.
	Promoted bool `json:"promoted,omitempty"`
	// FailedOverFrom names the recovered instance this main instance was
	// before a failover moved it here.
	FailedOverFrom string `json:"failed_over_from,omitempty"`
	// PortPicked is set when drctl chose the port, which it may then move
	// if another program takes it before the cluster binds it.
	PortPicked bool `json:"port_picked,omitempty"`
	// PasswordFile holds the superuser's password: connections over TCP
	// must give it (scram-sha-256), the socket in the instance's folder
	// takes only the postgres user (peer). Instances made by older drctl,
	// which trusted loopback, have none.
	PasswordFile string `json:"password_file,omitempty"`
	// ServerEnv names the worker's variables the server starts with,
	// besides a child's own: those that the secret references of its
	// archive and restore commands (drctl itself) read; "NAME_*" names a
	// prefix. Names only; the values are read at each start and never
	// written down.
	ServerEnv []string `json:"server_env,omitempty"`
	bin       string
	password  string
}

// Options are how Create makes an instance.
type Options struct {
	// Port 0 picks a free port.
	Port     int
	Settings map[string]string
	// CreatedBy is the run (or tool) that makes it.
	CreatedBy string
	// Password is the superuser's; "" generates one.
	Password  string
	ServerEnv []string
}

// passwordFile is the name of the file, in the instance's folder, that
// holds the superuser's password (0600, the postgres user's).
const passwordFile = ".drctl-password"

// BinDir is where Postgres's server programs are: `pg_config --bindir`.
func BinDir() (string, error) {
	out, err := exec.Command("pg_config", "--bindir").Output()
	if err != nil {
		return "", fmt.Errorf("finding Postgres's programs (pg_config --bindir): %w; install postgresql-15", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// DataDir is the cluster's data folder; LogFile, its server log.
func (l *Instance) DataDir() string { return filepath.Join(l.Dir, "data") }
func (l *Instance) LogFile() string { return filepath.Join(l.Dir, "postgres.log") }

// Host is where the cluster listens.
func (l *Instance) Host() string { return "127.0.0.1" }

// URL is a superuser connection to the cluster, password included: it is
// a secret, as the file it comes from is.
func (l *Instance) URL(database string) string {
	user := url.User("postgres")
	if pw := l.Password(); pw != "" {
		user = url.UserPassword("postgres", pw)
	}
	u := url.URL{Scheme: "postgres", User: user, Host: fmt.Sprintf("127.0.0.1:%d", l.Port), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// PasswordRef is the secret reference of the superuser's password, for an
// environments file; "" for an instance without one.
func (l *Instance) PasswordRef() secret.Ref {
	if l.PasswordFile == "" {
		return ""
	}
	return secret.Ref("file:" + l.PasswordFile)
}

// Password is the superuser's password, "" for an instance without one.
func (l *Instance) Password() string {
	if l.password == "" && l.PasswordFile != "" {
		if b, err := os.ReadFile(l.PasswordFile); err == nil {
			l.password = strings.TrimSpace(string(b))
		}
	}
	return l.password
}

// SetPassword writes the superuser's password where the postgres user
// (initdb --pwfile) and drctl read it, and no one else.
func (l *Instance) SetPassword(pw string) error {
	if pw == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		pw = hex.EncodeToString(b)
	}
	file := filepath.Join(l.Dir, passwordFile)
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	if err := ChownToPostgres(file); err != nil {
		return err
	}
	l.PasswordFile, l.password = file, pw
	return nil
}

// madeMark is the file drctl writes first into every instance folder it
// makes: drctl removes a folder only where it finds this mark (or its
// record), never one it found there.
const madeMark = ".drctl-made"

// MakeDir makes the folder of a new instance below baseDir and
// marks it as drctl's. A folder drctl left half-made (marked, without a
// record) is made again; any other folder of that name is refused.
func MakeDir(baseDir, name, createdBy string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	// The base folder is root's, but the postgres user must pass through
	// it to reach its own instance folder.
	if err := os.MkdirAll(baseDir, 0o711); err != nil {
		return "", err
	}
	dir := filepath.Join(baseDir, name)
	err := os.Mkdir(dir, 0o700)
	if errors.Is(err, fs.ErrExist) {
		if !madeByDrctl(dir) {
			return "", nonRetryable("NotOurs", "%s exists and drctl did not make it: move it away, or name another instance", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, madeMark), []byte(createdBy+"\n"), 0o600); err != nil {
		return "", err
	}
	return dir, nil
}

// CheckName refuses a name that is empty or not a plain name: it
// becomes a folder.
func CheckName(name string) error {
	if name == "" {
		return nonRetryable("BadName", "instance name \"\" is refused: an instance needs a name")
	}
	return stepio.CheckName("instance", name)
}

// madeByDrctl reports whether dir carries drctl's mark or record.
func madeByDrctl(dir string) bool {
	for _, f := range []string{madeMark, localRecord} {
		if st, err := os.Lstat(filepath.Join(dir, f)); err == nil && st.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// removeInstanceDir removes an instance folder drctl made, and refuses
// any other.
func removeInstanceDir(dir string) error {
	if !madeByDrctl(dir) {
		return nonRetryable("NotOurs", "%s was not made by drctl: it is left as it is", dir)
	}
	return os.RemoveAll(dir)
}

// Open reads an instance's record; ok is false when there is none.
func Open(baseDir, name string) (*Instance, bool, error) {
	if err := CheckName(name); err != nil {
		return nil, false, err
	}
	dir := filepath.Join(baseDir, name)
	b, err := os.ReadFile(filepath.Join(dir, localRecord))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var l Instance
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, false, fmt.Errorf("instance record %s: %w", filepath.Join(dir, localRecord), err)
	}
	l.Dir = dir
	return &l, true, nil
}

// Create makes a new cluster (initdb) and starts it. An instance that
// already exists is returned as it is: running create twice is safe.
func Create(ctx context.Context, baseDir, name string, o Options) (*Instance, bool, error) {
	port := o.Port
	if l, ok, err := Open(baseDir, name); err != nil || ok {
		if ok {
			err = l.Start(ctx)
		}
		return l, false, err
	}
	bin, err := BinDir()
	if err != nil {
		return nil, false, err
	}
	picked := port == 0
	if picked {
		if port, err = freeport.Loopback(); err != nil {
			return nil, false, err
		}
	}
	dir, err := MakeDir(baseDir, name, o.CreatedBy)
	if err != nil {
		return nil, false, err
	}
	l := &Instance{Name: name, Dir: dir, Port: port, Settings: o.Settings, CreatedBy: o.CreatedBy, PortPicked: picked,
		ServerEnv: o.ServerEnv, bin: bin}
	if err := ChownToPostgres(l.Dir); err != nil {
		return nil, false, err
	}
	if err := l.SetPassword(o.Password); err != nil {
		return nil, false, err
	}
	if out, err := l.run(ctx, "initdb", "-D", l.DataDir(), "-U", "postgres", "--auth-host=scram-sha-256", "--auth-local=peer",
		"--pwfile="+l.PasswordFile, "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		removeInstanceDir(l.Dir)
		return nil, false, fmt.Errorf("initdb for instance %s: %w\n%s", name, err, out)
	}
	if err := l.WriteConf(); err != nil {
		return nil, false, err
	}
	if err := l.Save(); err != nil {
		return nil, false, err
	}
	return l, true, l.Start(ctx)
}

// WriteConf appends drctl's settings to postgresql.conf: loopback only, a
// socket in the instance folder, and the instance's own settings.
func (l *Instance) WriteConf() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\n# drctl\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n", l.Port, l.Dir)
	keys := make([]string, 0, len(l.Settings))
	for k := range l.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = '%s'\n", k, strings.ReplaceAll(l.Settings[k], "'", "''"))
	}
	f, err := os.OpenFile(filepath.Join(l.DataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b.Bytes())
	return err
}

// Save writes the instance's record.
func (l *Instance) Save() error {
	b, _ := json.MarshalIndent(l, "", "  ")
	return os.WriteFile(filepath.Join(l.Dir, localRecord), b, 0o644)
}

// Running reports whether the cluster's postmaster is up.
func (l *Instance) Running(ctx context.Context) bool {
	_, err := l.run(ctx, "pg_ctl", "-D", l.DataDir(), "status")
	return err == nil
}

// Start starts the cluster and waits until it accepts connections.
//
// A port drctl picked was free when picked, but another program may have
// bound it by the time the cluster does. The cluster then refuses to
// start, having touched nothing, and starts again on another free port.
func (l *Instance) Start(ctx context.Context) error {
	if l.Running(ctx) {
		return nil
	}
	for attempt := 1; ; attempt++ {
		before := LogSize(l.LogFile())
		out, err := l.runWith(ctx, l.serverEnv(), "pg_ctl", "-D", l.DataDir(), "-l", l.LogFile(), "-w", "-t", "120", "start")
		if err == nil {
			return nil
		}
		if !l.PortPicked || attempt == 3 || !portTaken(l.LogFile(), before) {
			return fmt.Errorf("starting instance %s: %w\n%s\n%s", l.Name, err, out, Tail(l.LogFile()))
		}
		if l.Port, err = freeport.Loopback(); err != nil {
			return err
		}
		if err := l.WriteConf(); err != nil {
			return err
		}
		if err := l.Save(); err != nil {
			return err
		}
	}
}

// LogSize is how long a log is: where what a later command logs begins.
func LogSize(file string) int64 {
	fi, err := os.Stat(file)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// portTaken reports whether the server's log, from offset on, says its
// port was in use.
func portTaken(file string, offset int64) bool {
	b, err := os.ReadFile(file)
	if err != nil || int64(len(b)) < offset {
		return false
	}
	return bytes.Contains(b[offset:], []byte("Address already in use"))
}

// Stop stops the cluster (fast shutdown: sessions are ended, work is kept).
func (l *Instance) Stop(ctx context.Context) error {
	if !l.Running(ctx) {
		return nil
	}
	if out, err := l.run(ctx, "pg_ctl", "-D", l.DataDir(), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("stopping instance %s: %w\n%s", l.Name, err, out)
	}
	return nil
}

// Restart restarts the cluster.
func (l *Instance) Restart(ctx context.Context) error {
	if err := l.Stop(ctx); err != nil {
		return err
	}
	return l.Start(ctx)
}

// Destroy stops the cluster and removes its folder.
func (l *Instance) Destroy(ctx context.Context) error {
	if err := l.Stop(ctx); err != nil {
		return err
	}
	return removeInstanceDir(l.Dir)
}

// serverEnv is what of the worker's environment the server gets.
func (l *Instance) serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		for _, want := range l.ServerEnv {
			if prefix, ok := strings.CutSuffix(want, "*"); ok && strings.HasPrefix(k, prefix) || k == want {
				env = append(env, kv)
				break
			}
		}
	}
	return env
}

// run runs one of Postgres's programs, as the postgres user when root.
func (l *Instance) run(ctx context.Context, prog string, args ...string) (string, error) {
	return l.runWith(ctx, nil, prog, args...)
}

// runWith is run with extra variables in the program's environment.
func (l *Instance) runWith(ctx context.Context, extra []string, prog string, args ...string) (string, error) {
	if l.bin == "" {
		bin, err := BinDir()
		if err != nil {
			return "", err
		}
		l.bin = bin
	}
	cmd := exec.CommandContext(ctx, filepath.Join(l.bin, prog), args...)
	if err := AsPostgres(cmd); err != nil {
		return "", err
	}
	cmd.Env = append(cmd.Env, extra...)
	cmd.Dir = l.Dir
	out, err := cmd.CombinedOutput()
	return childio.Cut(string(out)), err
}

// AsPostgres makes cmd run as the postgres user when we are root, with a
// child's environment (never the worker's secrets).
func AsPostgres(cmd *exec.Cmd) error {
	cmd.Env = childio.Env()
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := postgresIDs()
	if err != nil {
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	cmd.Env = append(cmd.Env, "HOME=/var/lib/postgresql")
	return nil
}

func postgresIDs() (uint32, uint32, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return 0, 0, fmt.Errorf("initdb and postgres refuse to run as root and there is no postgres user: install postgresql-15")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uint32(uid), uint32(gid), nil
}

// ChownToPostgres gives dir to the postgres user when we are root: what
// the server, and the archive_command it runs, write into.
func ChownToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := postgresIDs()
	if err != nil {
		return err
	}
	return os.Chown(dir, int(uid), int(gid))
}

// Tail is the end of a log, which says why a server stopped.
func Tail(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// Untar extracts a tar stream below dir, refusing paths that leave it.
func Untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		if !strings.HasPrefix(target, dir+string(filepath.Separator)) && target != dir {
			return fmt.Errorf("refusing %q: outside the data folder", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode)&0o700|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
}

// ChownTree gives a folder and everything in it to the postgres user.
func ChownTree(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := postgresIDs()
	if err != nil {
		return err
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(uid), int(gid))
	})
}

// AppendConf adds settings to the instance's postgresql.conf; later lines
// win over the copy of the source's settings.
func (l *Instance) AppendConf(settings map[string]string) error {
	l.Settings = settings
	return l.WriteConf()
}

// Connect connects to database db as the superuser.
func (l *Instance) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, l.URL(db))
}

// Promote ends recovery and waits until the instance takes writes.
func (l *Instance) Promote(ctx context.Context) error {
	c, err := l.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := c.QueryRow(ctx, "select pg_promote(true, 120)").Scan(&ok); err != nil || !ok {
		return fmt.Errorf("promoting instance %s: %v (ok=%v)", l.Name, err, ok)
	}
	return nil
}

// MoveTo renames the (stopped) instance's folder to name below dir and
// records the new place: the move is one rename, so a crash leaves the
// instance whole under one name or the other.
func (l *Instance) MoveTo(dir, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	dest := filepath.Join(dir, name)
	if err := os.Rename(l.Dir, dest); err != nil {
		return fmt.Errorf("moving instance %s to %s: %w", l.Name, name, err)
	}
	l.Name, l.Dir = name, dest
	if l.PasswordFile != "" {
		l.PasswordFile = filepath.Join(dest, passwordFile)
	}
	return l.Save()
}

// nonRetryable is an error a step must not retry: the same call would
// meet the same refusal.
func nonRetryable(kind, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kind, nil)
}
