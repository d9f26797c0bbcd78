package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"go.temporal.io/sdk/temporal"
)

// A backup is two objects: the data, encrypted with age, at
// <env>/<yyyy-mm-dd>/<datastore>-<hhmmssZ>.<ext>, and beside it its
// metadata record, <same>.meta.json. The record is written last, so a
// backup without one is incomplete and is never listed.
const metaSuffix = ".meta.json"

var dataKeyRE = regexp.MustCompile(`^([^/]+)/(\d{4}-\d{2}-\d{2})/(.+)-(\d{6})Z\.([a-z0-9.]+)$`)

// DataKey is where a backup of datastore taken at t goes.
func DataKey(env, datastore string, t time.Time, ext string) string {
	t = t.UTC()
	return fmt.Sprintf("%s/%s/%s-%sZ.%s", env, t.Format(time.DateOnly), datastore, t.Format("150405"), ext)
}

// Writer is what a backup is written through: age encryption to the
// recipients, then the store, with the stored bytes counted and hashed.
type Writer struct {
	Store      Store
	Recipients []string
}

// Write streams plain (a dump) into the store as a new backup and then
// writes its metadata record. meta's Size, SHA256, Recipients and (when
// zero) StoppedAt are filled in here; the caller gives the rest. check, when
// given, runs once the data is stored and before the record is written:
// it reports whether the producer (pg_dump) really succeeded, and if not,
// the data is deleted and no backup appears; it may complete meta with
// what is known only at the end, such as the server's stop time.
func (w Writer) Write(ctx context.Context, plain io.Reader, meta Entry, check func(meta *Entry) error) (Entry, error) {
	if len(w.Recipients) == 0 {
		return Entry{}, temporal.NewNonRetryableApplicationError("the store has no age recipients: backups are never stored unencrypted", "NoRecipients", nil)
	}
	recips, err := parseRecipients(w.Recipients)
	if err != nil {
		return Entry{}, err
	}
	if err := checkCompression(meta); err != nil {
		return Entry{}, err
	}
	// The compression and encryption run ahead of the upload in their own
	// goroutines, so they overlap instead of taking turns over a pipe.
	sum := sha256.New()
	head := &headerTap{}
	var plainSize int64
	encrypted := readAhead(func(w *aheadWriter) error {
		head.w = w
		enc, err := age.Encrypt(head, recips...)
		if err != nil {
			return err
		}
		head.done = true // age wrote the header and nonce before returning
		z, endStream, err := compress(meta, enc)
		if err != nil {
			return err
		}
		if plainSize, err = io.Copy(z, plain); err != nil {
			endStream()
			return err
		}
		if err := endStream(); err != nil {
			return err
		}
		return enc.Close()
	}, nil)
	key := meta.Key
	n, err := w.Store.Put(ctx, key, io.TeeReader(encrypted, sum))
	if err != nil {
		// The encryption stops at its next write; it may first wait for
		// plain, whose producer our caller stops once we return.
		go encrypted.Close()
		return Entry{}, fmt.Errorf("storing %s: %w", key, err)
	}
	encrypted.Close()
	if check != nil {
		if err := check(&meta); err != nil {
			_ = w.Store.Delete(context.WithoutCancel(ctx), key)
			return Entry{}, err
		}
	}
	if meta.StoppedAt.IsZero() {
		meta.StoppedAt = time.Now().UTC()
	}
	meta.Size, meta.SHA256, meta.Recipients = n, hex.EncodeToString(sum.Sum(nil)), w.Recipients
	if meta.Compression != "" {
		meta.PlainSize = plainSize
	}
	headSum := sha256.Sum256(head.buf)
	meta.HeaderSize, meta.HeaderSHA256 = int64(len(head.buf)), hex.EncodeToString(headSum[:])
	if err := putMeta(ctx, w.Store, meta); err != nil {
		return Entry{}, err
	}
	return meta, nil
}

// headerTap keeps a copy of what is written until done: the age header and
// nonce.
type headerTap struct {
	w    io.Writer
	buf  []byte
	done bool
}

func (t *headerTap) Write(p []byte) (int, error) {
	if !t.done {
		t.buf = append(t.buf, p...)
	}
	return t.w.Write(p)
}

func putMeta(ctx context.Context, s Store, meta Entry) error {
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if _, err := s.Put(ctx, meta.Key+metaSuffix, bytes.NewReader(b)); err != nil {
		return fmt.Errorf("storing the metadata of %s: %w", meta.Key, err)
	}
	return nil
}

func parseRecipients(keys []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, k := range keys {
		r, err := age.ParseX25519Recipient(k)
		if err != nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("recipient %q is not an age public key", k), "BadRecipient", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Read opens a backup for restoring: the stored bytes are decrypted with
// the identity (an age secret key file's content) and checked as they
// stream. A backup whose record pins its age header is checked by that
// header, age's authentication of every chunk and the recorded size; an
// older record by the sha256 of every stored byte. A wrong key, a truncated
// object or a checksum mismatch fails non-retryably, naming the object;
// Close reports a mismatch found at the end.
func Read(ctx context.Context, s Store, e Entry, identity string) (*Reader, error) {
	ids, err := age.ParseIdentities(strings.NewReader(identity))
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the age identity is not valid", "BadIdentity", nil)
	}
	if err := checkCompression(e); err != nil {
		return nil, err
	}
	raw, err := s.Get(ctx, e.Key)
	if err != nil {
		return nil, err
	}
	v := &verifyingReader{r: raw, h: sha256.New(), e: e, store: s.String(), hashed: e.Size}
	if e.HeaderSHA256 != "" {
		v.hashed = e.HeaderSize
	}
	plain, err := age.Decrypt(v, ids...)
	if err != nil {
		raw.Close()
		if v.err != nil {
			return nil, v.err
		}
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s in %s: the age identity is not one of the backup's recipients (%s)", e.Key, s, strings.Join(e.Recipients, ", ")), "WrongKey", nil)
		}
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s in %s: cannot decrypt: %v", e.Key, s, err), "Corrupt", nil)
	}
	r, stop, err := decompress(e, plain)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return &Reader{r: r, v: v, raw: raw, stop: stop}, nil
}

// verifyingReader hashes the first `hashed` stored bytes (the age header,
// or everything for an older record) and checks the hash as soon as they
// have passed, and the size at EOF.
type verifyingReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	hashed int64
	e      Entry
	store  string
	err    error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if v.n < v.hashed {
		v.h.Write(p[:min(int64(n), v.hashed-v.n)])
		if v.n+int64(n) >= v.hashed && !v.sumMatches() {
			v.err = v.corrupt("does not match its recorded sha256")
			if v.e.HeaderSHA256 != "" {
				v.err = v.corrupt("is not the backup its record describes: its age header differs")
			}
		}
	}
	v.n += int64(n)
	if err == io.EOF && v.err == nil && v.n != v.e.Size {
		v.err = v.corrupt(fmt.Sprintf("is truncated or padded: %d bytes stored, %d recorded", v.n, v.e.Size))
	}
	if v.err != nil {
		return n, v.err
	}
	return n, err
}

func (v *verifyingReader) sumMatches() bool {
	want := v.e.SHA256
	if v.e.HeaderSHA256 != "" {
		want = v.e.HeaderSHA256
	}
	return hex.EncodeToString(v.h.Sum(nil)) == want
}

func (v *verifyingReader) corrupt(what string) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s in %s %s", v.e.Key, v.store, what), "Corrupt", nil)
}

// Reader is a backup being read: Read gives the decrypted bytes, Close
// checks the whole object, Abandon gives up on it.
type Reader struct {
	r      io.Reader
	v      *verifyingReader
	raw    io.Closer
	stop   func() // ends the decompression
	failed error  // the first error Read returned, io.EOF aside
	close  sync.Once
}

func (p *Reader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && p.v.err != nil {
		err = p.v.err
	} else if err != nil && err != io.EOF {
		err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s in %s: %v", p.v.e.Key, p.v.store, err), "Corrupt", nil)
	}
	if err != nil && err != io.EOF && p.failed == nil {
		p.failed = err
	}
	return n, err
}

// Close drains what age did not need (there should be nothing) so the
// size and checksum are checked over every stored byte; after a failed
// Read, it returns that failure without reading on.
func (p *Reader) Close() error {
	if p.failed != nil {
		p.Abandon()
		return p.failed
	}
	// The decoder is released before the rest is drained past it.
	p.stop()
	_, _ = io.Copy(io.Discard, p.v)
	var cerr error
	p.close.Do(func() { cerr = p.raw.Close() })
	if p.v.err != nil {
		return p.v.err
	}
	return cerr
}

// Abandon closes the object without reading the rest, for a reader given
// up on: whose consumer failed, so its check no longer matters, and whose
// rest may be gigabytes away. It returns at once and the closing goes on
// in the background: a download with requests in flight (SFTP keeps
// many) may have to take in their answers first, which across a slow
// link is as slow as the rest of the download, unless the caller closes
// the store. It does nothing after Close.
func (p *Reader) Abandon() {
	p.close.Do(func() {
		go func() {
			_ = p.raw.Close() // first: it ends a read the decompression waits in
			p.stop()
		}()
	})
}

// Entries lists the complete backups below prefix (an env, or env/date),
// oldest first by recorded stop time.
func Entries(ctx context.Context, s Store, prefix string) ([]Entry, error) {
	out, _, err := Scan(ctx, s, prefix)
	return out, err
}

// Damaged is a backup that cannot be restored, and why: its record is not
// readable, or its data object is missing or not the size recorded.
type Damaged struct {
	Key       string `json:"key"`
	Datastore string `json:"datastore"`
	// At is when the backup was taken, from its record, else its key.
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// Scan lists the complete backups below prefix (Entries), sorted by stop
// time, and the damaged ones, sorted by when they were taken: one damaged
// backup hides nothing else, and is never silently left out.
func Scan(ctx context.Context, s Store, prefix string) ([]Entry, []Damaged, error) {
	out, damaged, err := scan(ctx, s, prefix, dataKeyRE.MatchString)
	sort.Slice(out, func(i, j int) bool { return out[i].StoppedAt.Before(out[j].StoppedAt) })
	sort.Slice(damaged, func(i, j int) bool { return damaged[i].At.Before(damaged[j].At) })
	return out, damaged, err
}

// Records lists, in key order, the complete objects below prefix whose
// key keep accepts (all, when keep is nil): those with a metadata record
// whose data object is there with the recorded size. Records that keep
// refuses are not read.
func Records(ctx context.Context, s Store, prefix string, keep func(dataKey string) bool) ([]Entry, error) {
	out, _, err := scan(ctx, s, prefix, keep)
	return out, err
}

func scan(ctx context.Context, s Store, prefix string, keep func(dataKey string) bool) ([]Entry, []Damaged, error) {
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	sizes := map[string]int64{}
	for _, o := range objs {
		sizes[o.Key] = o.Size
	}
	var out []Entry
	var damaged []Damaged
	for _, o := range objs {
		dataKey, ok := strings.CutSuffix(o.Key, metaSuffix)
		if !ok || (keep != nil && !keep(dataKey)) {
			continue
		}
		d := Damaged{Key: dataKey, Datastore: datastoreOf(dataKey), At: takenAt(dataKey)}
		e, err := ReadMeta(ctx, s, o.Key)
		size, present := sizes[dataKey]
		switch {
		case err != nil:
			d.Reason = fmt.Sprintf("its metadata record cannot be read: %v", err)
		case e.Key != dataKey:
			d.Reason = fmt.Sprintf("its metadata record describes %s", e.Key)
		case !present:
			d.Reason = "its data object is missing"
		case e.Size != size:
			d.Reason = fmt.Sprintf("truncated or padded: %d bytes stored, %d recorded", size, e.Size)
		default:
			out = append(out, e)
			continue
		}
		if err == nil {
			d.At, d.Datastore = e.StoppedAt, e.Datastore
		}
		damaged = append(damaged, d)
	}
	return out, damaged, nil
}

// takenAt is when a backup was taken, as its key says.
func takenAt(key string) time.Time {
	m := dataKeyRE.FindStringSubmatch(key)
	if m == nil {
		return time.Time{}
	}
	t, _ := time.Parse("2006-01-02150405", m[2]+m[4])
	return t
}

// datastoreOf is the datastore a backup's key names.
func datastoreOf(key string) string {
	if m := dataKeyRE.FindStringSubmatch(key); m != nil {
		return m[3]
	}
	return ""
}

// ReadMeta reads one metadata record.
func ReadMeta(ctx context.Context, s Store, key string) (Entry, error) {
	r, err := s.Get(ctx, key)
	if err != nil {
		return Entry{}, err
	}
	defer r.Close()
	var e Entry
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("metadata %s in %s is not valid JSON: %w", key, s, err)
	}
	return e, nil
}

// dateOf returns the date folder of a data key.
func dateOf(key string) string {
	if m := dataKeyRE.FindStringSubmatch(key); m != nil {
		return m[2]
	}
	return path.Base(path.Dir(key))
}

// MarkVerified records in a backup's metadata that a restore of it passed
// verification; retention never deletes the newest such backup.
func MarkVerified(ctx context.Context, s Store, e Entry, at time.Time) error {
	at = at.UTC()
	e.VerifiedAt = &at
	return putMeta(ctx, s, e)
}

// CheckStored reads a backup's stored bytes back and compares their size
// and sha256 with its record, without the key to decrypt them: what a
// backup server can check of what it holds. It returns why they differ,
// or "".
func CheckStored(ctx context.Context, s Store, e Entry) (string, error) {
	r, err := s.Get(ctx, e.Key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, r)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", e.Key, err)
	}
	switch got := hex.EncodeToString(sum.Sum(nil)); {
	case n != e.Size:
		return fmt.Sprintf("%d bytes stored, %d recorded", n, e.Size), nil
	case e.SHA256 != "" && got != e.SHA256:
		return fmt.Sprintf("its bytes changed since it was written: sha256 %s, recorded %s", got, e.SHA256), nil
	}
	return "", nil
}
