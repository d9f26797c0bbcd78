package testsuite

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
// every one of labels (`k="v"`), and whether there is one.
func sample(exposition, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(","+set+",", ","+l+",")
		}
		if all {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v, err == nil
		}
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
