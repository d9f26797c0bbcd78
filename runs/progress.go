package runs

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Progress is what a running step last reported in its heartbeat: a
// phase, bytes of a total, or items of a number.
type Progress struct {
	Phase string `json:"phase"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total"`
	// Done of Of: tables counted, objects compared.
	Done int `json:"done"`
	Of   int `json:"of"`
	// Rest holds what else it said, for the generic text.
	Rest map[string]any `json:"-"`
}

// ParseProgress reads a step's progress as Status carries it (its JSON).
func ParseProgress(raw string) (Progress, bool) {
	var p Progress
	if raw == "" || json.Unmarshal([]byte(raw), &p) != nil {
		return p, false
	}
	_ = json.Unmarshal([]byte(raw), &p.Rest)
	for _, k := range []string{"phase", "bytes", "total", "done", "of"} {
		delete(p.Rest, k)
	}
	return p, true
}

// String is the progress in words: "restore 1.2 GiB of 3.4 GiB (35%)".
func (p Progress) String() string {
	var parts []string
	if p.Phase != "" {
		parts = append(parts, p.Phase)
	}
	switch {
	case p.Total > 0:
		parts = append(parts, fmt.Sprintf("%s of %s (%d%%)", Bytes(p.Bytes), Bytes(p.Total), p.percent()))
	case p.Bytes > 0:
		parts = append(parts, Bytes(p.Bytes))
	case p.Of > 0:
		parts = append(parts, fmt.Sprintf("%d of %d", p.Done, p.Of))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Rest)) {
		parts = append(parts, fmt.Sprintf("%s %v", k, p.Rest[k]))
	}
	return strings.Join(parts, " ")
}

func (p Progress) percent() int64 {
	if p.Total <= 0 {
		return 0
	}
	return min(100, p.Bytes*100/p.Total)
}

// Bar draws the progress for a terminal that redraws it: a bar, the
// share, and, with the rate since the last drawing (bytes a second), the
// rate and the time left.
func (p Progress) Bar(rate float64) string {
	if p.Total <= 0 {
		s := p.String()
		if rate > 0 {
			s += fmt.Sprintf(" %s/s", Bytes(int64(rate)))
		}
		return s
	}
	const width = 20
	filled := int(p.percent() * width / 100)
	s := fmt.Sprintf("%s [%s%s] %3d%% %s of %s", p.Phase, strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		p.percent(), Bytes(p.Bytes), Bytes(p.Total))
	if rate > 0 {
		left := time.Duration(float64(p.Total-p.Bytes) / rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf(" %s/s ETA %s", Bytes(int64(rate)), left)
	}
	return s
}

// Bytes is n in binary units: "1.2 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
