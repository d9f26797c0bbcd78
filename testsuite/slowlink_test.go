package testsuite

import (
	"testing"
	"time"
)

// TestPacerCatchesUpLateSleeps: on a clock where every sleep ends a
// millisecond late, a stream of 64 KiB pieces still crosses a link of
// 100 MB/s at its rate, and a link idle for a while lets through no more
// than slack's worth at once.
func TestPacerCatchesUpLateSleeps(t *testing.T) {
	clock := time.Unix(0, 0)
	p := newPacer(100e6)
	p.now = func() time.Time { return clock }
	p.sleep = func(d time.Duration) { clock = clock.Add(d + time.Millisecond) }
	const piece, pieces = 64 << 10, 1000
	start := clock
	for range pieces {
		p.wait(piece)
	}
	took := clock.Sub(start)
	due := time.Duration(float64(piece*pieces) / 100e6 * float64(time.Second))
	// A new link starts with slack saved up, like an idle one.
	if took < due-slack || took > due+time.Millisecond {
		t.Fatalf("%d pieces took %v on the link's clock; at its rate they take %v", pieces, took, due)
	}

	clock = clock.Add(time.Second) // idle
	idle := clock
	burst := int(100e6 * slack.Seconds())
	p.wait(burst)
	if clock != idle {
		t.Fatalf("a link idle for a second waited %v before letting %d bytes through", clock.Sub(idle), burst)
	}
	p.wait(piece)
	if clock == idle {
		t.Fatal("a link let more than its slack through at once after being idle")
	}
}
