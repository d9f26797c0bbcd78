package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/drctl/drctl/activities/secret"
	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/internal/childio"
	"github.com/drctl/drctl/internal/freeport"
)

// The local provider runs Postgres clusters on this host, one folder per
// instance under the environment's data_dir, each described by a small
// record beside its data. initdb and postgres refuse to run as root, so as
// root they run as the postgres user.

const localRecord = "drctl-instance.json"

// Local is a cluster on this host.
type Local struct {
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

// LocalOptions are how CreateLocal makes an instance.
type LocalOptions struct {
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

func (l *Local) dataDir() string { return filepath.Join(l.Dir, "data") }
func (l *Local) logFile() string { return filepath.Join(l.Dir, "postgres.log") }

// Host is where the cluster listens.
func (l *Local) Host() string { return "127.0.0.1" }

// URL is a superuser connection to the cluster, password included: it is
// a secret, as the file it comes from is.
func (l *Local) URL(database string) string {
	user := url.User("postgres")
	if pw := l.Password(); pw != "" {
		user = url.UserPassword("postgres", pw)
	}
	u := url.URL{Scheme: "postgres", User: user, Host: fmt.Sprintf("127.0.0.1:%d", l.Port), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// PasswordRef is the secret reference of the superuser's password, for an
// environments file; "" for an instance without one.
func (l *Local) PasswordRef() secret.Ref {
	if l.PasswordFile == "" {
		return ""
	}
	return secret.Ref("file:" + l.PasswordFile)
}

// Password is the superuser's password, "" for an instance without one.
func (l *Local) Password() string {
	if l.password == "" && l.PasswordFile != "" {
		if b, err := os.ReadFile(l.PasswordFile); err == nil {
			l.password = strings.TrimSpace(string(b))
		}
	}
	return l.password
}

// setPassword writes the superuser's password where the postgres user
// (initdb --pwfile) and drctl read it, and no one else.
func (l *Local) setPassword(pw string) error {
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

// makeInstanceDir makes the folder of a new instance below baseDir and
// marks it as drctl's. A folder drctl left half-made (marked, without a
// record) is made again; any other folder of that name is refused.
func makeInstanceDir(baseDir, name, createdBy string) (string, error) {
	if err := checkInstanceName(name); err != nil {
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

// checkInstanceName refuses a name that is empty or not a plain name: it
// becomes a folder.
func checkInstanceName(name string) error {
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

// OpenLocal reads an instance's record; ok is false when there is none.
func OpenLocal(baseDir, name string) (*Local, bool, error) {
	if err := checkInstanceName(name); err != nil {
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
	var l Local
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, false, fmt.Errorf("instance record %s: %w", filepath.Join(dir, localRecord), err)
	}
	l.Dir = dir
	return &l, true, nil
}

// CreateLocal makes a new cluster (initdb) and starts it. An instance that
// already exists is returned as it is: running create twice is safe.
func CreateLocal(ctx context.Context, baseDir, name string, o LocalOptions) (*Local, bool, error) {
	port := o.Port
	if l, ok, err := OpenLocal(baseDir, name); err != nil || ok {
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
	dir, err := makeInstanceDir(baseDir, name, o.CreatedBy)
	if err != nil {
		return nil, false, err
	}
	l := &Local{Name: name, Dir: dir, Port: port, Settings: o.Settings, CreatedBy: o.CreatedBy, PortPicked: picked,
		ServerEnv: o.ServerEnv, bin: bin}
	if err := ChownToPostgres(l.Dir); err != nil {
		return nil, false, err
	}
	if err := l.setPassword(o.Password); err != nil {
		return nil, false, err
	}
	if out, err := l.run(ctx, "initdb", "-D", l.dataDir(), "-U", "postgres", "--auth-host=scram-sha-256", "--auth-local=peer",
		"--pwfile="+l.PasswordFile, "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		removeInstanceDir(l.Dir)
		return nil, false, fmt.Errorf("initdb for instance %s: %w\n%s", name, err, out)
	}
	if err := l.writeConf(); err != nil {
		return nil, false, err
	}
	if err := l.save(); err != nil {
		return nil, false, err
	}
	return l, true, l.Start(ctx)
}

// writeConf appends drctl's settings to postgresql.conf: loopback only, a
// socket in the instance folder, and the instance's own settings.
func (l *Local) writeConf() error {
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
	f, err := os.OpenFile(filepath.Join(l.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b.Bytes())
	return err
}

func (l *Local) save() error {
	b, _ := json.MarshalIndent(l, "", "  ")
	return os.WriteFile(filepath.Join(l.Dir, localRecord), b, 0o644)
}

// Running reports whether the cluster's postmaster is up.
func (l *Local) Running(ctx context.Context) bool {
	_, err := l.run(ctx, "pg_ctl", "-D", l.dataDir(), "status")
	return err == nil
}

// Start starts the cluster and waits until it accepts connections.
//
// A port drctl picked was free when picked, but another program may have
// bound it by the time the cluster does. The cluster then refuses to
// start, having touched nothing, and starts again on another free port.
func (l *Local) Start(ctx context.Context) error {
	if l.Running(ctx) {
		return nil
	}
	for attempt := 1; ; attempt++ {
		before := logSize(l.logFile())
		out, err := l.runWith(ctx, l.serverEnv(), "pg_ctl", "-D", l.dataDir(), "-l", l.logFile(), "-w", "-t", "120", "start")
		if err == nil {
			return nil
		}
		if !l.PortPicked || attempt == 3 || !portTaken(l.logFile(), before) {
			return fmt.Errorf("starting instance %s: %w\n%s\n%s", l.Name, err, out, tail(l.logFile()))
		}
		if l.Port, err = freeport.Loopback(); err != nil {
			return err
		}
		if err := l.writeConf(); err != nil {
			return err
		}
		if err := l.save(); err != nil {
			return err
		}
	}
}

func logSize(file string) int64 {
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
func (l *Local) Stop(ctx context.Context) error {
	if !l.Running(ctx) {
		return nil
	}
	if out, err := l.run(ctx, "pg_ctl", "-D", l.dataDir(), "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("stopping instance %s: %w\n%s", l.Name, err, out)
	}
	return nil
}

// Restart restarts the cluster.
func (l *Local) Restart(ctx context.Context) error {
	if err := l.Stop(ctx); err != nil {
		return err
	}
	return l.Start(ctx)
}

// Destroy stops the cluster and removes its folder.
func (l *Local) Destroy(ctx context.Context) error {
	if err := l.Stop(ctx); err != nil {
		return err
	}
	return removeInstanceDir(l.Dir)
}

// serverEnv is what of the worker's environment the server gets.
func (l *Local) serverEnv() []string {
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
func (l *Local) run(ctx context.Context, prog string, args ...string) (string, error) {
	return l.runWith(ctx, nil, prog, args...)
}

// runWith is run with extra variables in the program's environment.
func (l *Local) runWith(ctx context.Context, extra []string, prog string, args ...string) (string, error) {
	if l.bin == "" {
		bin, err := BinDir()
		if err != nil {
			return "", err
		}
		l.bin = bin
	}
	cmd := exec.CommandContext(ctx, filepath.Join(l.bin, prog), args...)
	if err := asPostgres(cmd); err != nil {
		return "", err
	}
	cmd.Env = append(cmd.Env, extra...)
	cmd.Dir = l.Dir
	out, err := cmd.CombinedOutput()
	return childio.Cut(string(out)), err
}

// asPostgres makes cmd run as the postgres user when we are root, with a
// child's environment (never the worker's secrets).
func asPostgres(cmd *exec.Cmd) error {
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

func tail(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}
