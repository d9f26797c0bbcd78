package testsuite

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// metricsURL is where drctl dev said it serves its metrics.
func metricsURL(t *testing.T, d *Dev) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^metrics\s+(http://\S+)/metrics$`).FindStringSubmatch(d.Output())
	if m == nil {
		t.Fatalf("drctl dev did not say where its metrics are:\n%s", d.Output())
	}
	return m[1]
}

// get fetches url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample is the value of the series named name whose labels include
// every one of labels (`k="v"`), and whether there is one; a histogram's
// name_count is how many it observed. Prometheus's own parser reads the
// exposition.
func sample(exposition, name string, labels ...string) (float64, bool) {
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		return 0, false
	}
	base, count := strings.CutSuffix(name, "_count")
	family, ok := families[name]
	if ok {
		count = false
	} else if family, ok = families[base]; !ok || !count {
		return 0, false
	}
	want := map[string]string{}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		want[k], _ = strconv.Unquote(v)
	}
	for _, m := range family.GetMetric() {
		matched := 0
		for _, pair := range m.GetLabel() {
			if v, ok := want[pair.GetName()]; ok && v == pair.GetValue() {
				matched++
			}
		}
		if matched < len(want) {
			continue
		}
		switch {
		case count:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// drctlSeries is the exposition's drctl_ lines, what a failure shows.
func drctlSeries(exposition string) string {
	var b strings.Builder
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, "drctl_") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
