package runs

import (
	"strings"
	"testing"
)

// A step's heartbeat reads as words, and on a terminal as a bar with its
// rate and the time left; what is not progress passes as it is.
func TestProgressInWords(t *testing.T) {
	for raw, want := range map[string]string{
		`{"phase":"download","bytes":1288490188,"total":3650722201}`: "download 1.2 GiB of 3.4 GiB (35%)",
		`{"phase":"dump","bytes":5242880}`:                           "dump 5.0 MiB",
		`{"phase":"count tables","done":3,"of":12}`:                  "count tables 3 of 12",
		`{"phase":"waiting","polls":7}`:                              "waiting polls 7",
	} {
		p, ok := ParseProgress(raw)
		if !ok || p.String() != want {
			t.Errorf("%s: %q, want %q", raw, p.String(), want)
		}
	}
	if _, ok := ParseProgress("restore [####] 20%"); ok {
		t.Error("a drawn bar parsed as a heartbeat")
	}
	p, _ := ParseProgress(`{"phase":"download","bytes":536870912,"total":1073741824}`)
	bar := p.Bar(64 << 20)
	for _, want := range []string{"download [##########..........]", " 50%", "512.0 MiB of 1.0 GiB", "64.0 MiB/s", "ETA 8s"} {
		if !strings.Contains(bar, want) {
			t.Errorf("bar %q lacks %q", bar, want)
		}
	}
	if bar := p.Bar(0); strings.Contains(bar, "ETA") {
		t.Errorf("a bar with no rate yet guesses the time left: %q", bar)
	}
}
