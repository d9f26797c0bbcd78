package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

type closeCounter struct{ n int }

func (c *closeCounter) Close() error { c.n++; return nil }

// TestReadAheadDeliversInOrder moves sizes around the buffer size through
// both of the writer's paths (Write, as sftp's WriteTo uses, and ReadFrom,
// as an HTTP body uses) and gets the same bytes back.
func TestReadAheadDeliversInOrder(t *testing.T) {
	for _, size := range []int{0, 1, aheadChunk - 1, aheadChunk, 3*aheadChunk + 17, (aheadDepth + 3) * aheadChunk} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i * 7)
		}
		fills := map[string]func(w *aheadWriter) error{
			"write": func(w *aheadWriter) error {
				for p := want; len(p) > 0; {
					n := min(len(p), 32<<10+5)
					if _, err := w.Write(p[:n]); err != nil {
						return err
					}
					p = p[n:]
				}
				return nil
			},
			"readfrom": func(w *aheadWriter) error {
				_, err := w.ReadFrom(iotest.HalfReader(bytes.NewReader(want)))
				return err
			},
		}
		for name, fill := range fills {
			c := &closeCounter{}
			r := readAhead(fill, c)
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s %d bytes: got %d bytes, err %v", name, size, len(got), err)
			}
			if err := r.Close(); err != nil || c.n != 1 {
				t.Errorf("%s: close: %v, source closed %d times", name, err, c.n)
			}
		}
	}
}

// TestReadAheadStops: a download error reaches the reader after the bytes
// before it, and closing an unread reader ends the producer instead of
// leaving it blocked.
func TestReadAheadStops(t *testing.T) {
	boom := errors.New("connection reset")
	r := readAhead(func(w *aheadWriter) error {
		if _, err := w.Write([]byte("partial")); err != nil {
			return err
		}
		return boom
	}, &closeCounter{})
	got, err := io.ReadAll(r)
	if string(got) != "partial" || !errors.Is(err, boom) {
		t.Errorf("got %q, %v; want the partial bytes, then the error", got, err)
	}

	stopped := make(chan error, 1)
	c := &closeCounter{}
	r = readAhead(func(w *aheadWriter) error {
		for {
			if _, err := w.Write(make([]byte, 64<<10)); err != nil {
				stopped <- err
				return err
			}
		}
	}, c)
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-stopped; !errors.Is(err, errReaderClosed) || c.n != 1 {
		t.Errorf("producer ended with %v, source closed %d times", err, c.n)
	}
}
