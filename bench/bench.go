// Package bench holds drctl's benchmarks, side by side with what a person
// would do without drctl: the interpreter against a hand-written workflow,
// the stores against their raw clients, restores against the manual
// procedure and raw pg_restore -j, point-in-time recovery against
// pgBackRest, and WAL archiving in batches against one file a call. They
// print ratios against those baselines, measured in the same rounds
// (make bench); docs/benchmarks.md has the method and the figures. Each
// has a tiny round among the tests, so none rots.
package bench

import "slices"

// Median is the middle of v, or the mean of its two middles: benchmarks
// report the median of their rounds' ratios, which the one round a busy
// machine spoils does not move.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Sorted(slices.Values(v))
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
