package testsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/activities/report"
)

// TestReportInABrowser opens a failed drill's HTML report in headless
// Chromium, as the person auditing it would: the page renders (the
// screenshot is not blank) and its DOM holds the banner, the table of what
// verification checked and the chart of where the time went.
func TestReportInABrowser(t *testing.T) {
	chromium := Need(t, "chromium", "apt-get install -y chromium")
	var st report.RunStatus
	if err := json.Unmarshal([]byte(`{"runbook": "nightly-restore", "environment": "staging", "state": "failed", "plan_hash": "abc",
		"targets": {"rto": "1h0m0s", "rpo": "36h0m0s"},
		"timeline": [{"at": "2026-07-20T15:00:00Z", "kind": "started"}],
		"steps": [
			{"id": "find_backup", "uses": "backup.latest", "state": "succeeded", "started": "2026-07-20T15:00:00Z", "ended": "2026-07-20T15:00:01Z",
				"outputs": {"key": "production/2026-07-20/register-020000Z.dump.zst.age", "size": 14609152}},
			{"id": "restore", "uses": "postgres.restore", "state": "succeeded", "started": "2026-07-20T15:00:01Z", "ended": "2026-07-20T15:00:31Z"},
			{"id": "verify", "uses": "postgres.verify", "state": "failed", "started": "2026-07-20T15:00:31Z", "ended": "2026-07-20T15:00:33Z",
				"error": "0 rows in 3 tables", "outputs": {"checks": [{"name": "not empty", "expected": ">= 1 rows", "actual": "0 rows in 3 tables", "ok": false}]}}]}`), &st); err != nil {
		t.Fatal(err)
	}
	out, err := report.Files(t.TempDir(), "", "run-1", st, []string{"html"}, time.Date(2026, 7, 20, 15, 1, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	page := "file://" + out.Files[0]
	browse := func(args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, chromium, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + t.TempDir()}, args...)...)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return stdout.Bytes()
	}
	dom := string(browse("--dump-dom", page))
	for _, want := range []string{`<p class="banner missed">FAILED at step verify: 0 rows in 3 tables</p>`,
		"<h2>what verify checked</h2>", "<td>0 rows in 3 tables</td>", `<svg class="chart"`, `class="bar failed"`,
		"production/2026-07-20/register-020000Z.dump.zst.age"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	browse("--window-size=1000,900", "--screenshot="+shot, page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 3 {
		t.Fatalf("the screenshot is blank: %d colours", len(colours))
	}
}
