package testsuite

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
