// Command plot draws what BenchmarkRestoreBySize measured as SVG charts for
// docs/benchmarks.md: restore time and peak memory against the database's
// size, a line for each way, the median of the rounds at each size.
//
//	go run ./bench/plot [-in bench/out/restore-by-size.jsonl] [-out docs/img]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

type sample struct {
	MB      int     `json:"mb"`
	Way     string  `json:"way"`
	Seconds float64 `json:"seconds"`
	PeakMiB float64 `json:"peak_mib"`
}

// ways name the benchmark's ways for a reader, in the legend's order.
var ways = []struct{ key, label, color string }{
	{"ours-sftp", "drctl (loopback)", "#1b6ac9"},
	{"ours-sftp-slow", "drctl (across the link)", "#1b6ac9"},
	{"manual-sftp", "copy, then pg_restore (loopback)", "#c94f1b"},
	{"manual-sftp-slow", "copy, then pg_restore (across the link)", "#c94f1b"},
	{"raw-j", "raw pg_restore -j2 of a local file", "#3a8f3a"},
}

func main() {
	in := flag.String("in", "bench/out/restore-by-size.jsonl", "the benchmark's samples")
	out := flag.String("out", "docs/img", "folder for the charts")
	flag.Parse()
	samples, err := read(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	for _, c := range []struct {
		file, title, unit string
		value             func(sample) float64
	}{
		{"restore-time-by-size.svg", "Restore time by database size", "seconds", func(s sample) float64 { return s.Seconds }},
		{"restore-memory-by-size.svg", "Peak memory of the restoring program", "MiB", func(s sample) float64 { return s.PeakMiB }},
	} {
		svg := chart(c.title, c.unit, samples, c.value)
		if err := os.WriteFile(filepath.Join(*out, c.file), []byte(svg), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "plot:", err)
			os.Exit(1)
		}
	}
}

func read(file string) ([]sample, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []sample
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var s sample
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, line, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no samples: run make bench-sizes first", file)
	}
	return out, sc.Err()
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// chart draws one line a way: value against size, medians of the rounds.
func chart(title, unit string, samples []sample, value func(sample) float64) string {
	const w, h, left, right, top, bottom = 760.0, 440.0, 70.0, 290.0, 40.0, 50.0
	byWay := map[string]map[int][]float64{}
	var sizes []int
	maxY := 0.0
	for _, s := range samples {
		if byWay[s.Way] == nil {
			byWay[s.Way] = map[int][]float64{}
		}
		byWay[s.Way][s.MB] = append(byWay[s.Way][s.MB], value(s))
		if !slices.Contains(sizes, s.MB) {
			sizes = append(sizes, s.MB)
		}
		maxY = math.Max(maxY, value(s))
	}
	slices.Sort(sizes)
	maxX := float64(sizes[len(sizes)-1])
	maxY = niceCeil(maxY)
	x := func(mb int) float64 { return left + float64(mb)/maxX*(w-left-right) }
	y := func(v float64) float64 { return h - bottom - v/maxY*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="22" font-size="15">%s</text>`+"\n", left, title)
	for i := 0; i <= 5; i++ {
		v := maxY * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n",
			left, w-right, y(v), y(v), left-6, y(v)+4, v)
	}
	for _, mb := range sizes {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g GB</text>`+"\n", x(mb), h-bottom+18, float64(mb)/1024)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">database size</text>`+"\n", (left+w-right)/2, h-10)
	fmt.Fprintf(&b, `<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (top+h-bottom)/2, unit)
	drawn := 0
	for _, way := range ways {
		points := byWay[way.key]
		if len(points) == 0 {
			continue
		}
		dash := ""
		if strings.HasSuffix(way.key, "-slow") {
			dash = ` stroke-dasharray="6 4"`
		}
		var path []string
		for _, mb := range sizes {
			if v, ok := points[mb]; ok {
				path = append(path, fmt.Sprintf("%.1f,%.1f", x(mb), y(median(v))))
			}
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", way.color, dash, strings.Join(path, " "))
		for _, p := range path {
			xy := strings.Split(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", xy[0], xy[1], way.color)
		}
		ly := top + 20 + float64(drawn)*22
		drawn++
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			w-right+12, w-right+40, ly, ly, way.color, dash, w-right+46, ly+4, way.label)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
