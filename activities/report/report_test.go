package report

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drctl/drctl/activities/stepio"
)

var start = time.Date(2026, 7, 20, 15, 0, 0, 0, time.UTC)

// status reads a run status from the interpreter's JSON, as the activity
// receives it; steps is the JSON of its steps.
func status(t *testing.T, steps string) RunStatus {
	t.Helper()
	var s RunStatus
	doc := `{"runbook": "nightly-restore", "environment": "staging", "plan_hash": "abc", "initiator": "ana",
		"targets": {"rto": "1h0m0s", "rpo": "36h0m0s"},
		"timeline": [{"at": "2026-07-20T15:00:00Z", "kind": "started"}],
		"steps": ` + steps + `}`
	if err := json.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRTOIsStartToVerified(t *testing.T) {
	s := status(t, `[
		{"id": "restore", "uses": "postgres.restore", "state": "succeeded"},
		{"id": "verify", "uses": "postgres.verify", "state": "succeeded", "ended": "2026-07-20T15:00:01.234Z", "outputs": {"rpo": "5m0s"}},
		{"id": "scrub", "uses": "postgres.scrub", "state": "succeeded", "ended": "2026-07-20T15:40:00Z"}]`)
	m := measure(s, start.Add(2*time.Hour))
	if m.RTO != "1.23s" || m.RTOMet == nil || !*m.RTOMet {
		t.Errorf("RTO %q met %v, want 1.23s met", m.RTO, m.RTOMet)
	}
	if m.RPO != "5m0s" || m.RPOMet == nil || !*m.RPOMet {
		t.Errorf("RPO %q met %v", m.RPO, m.RPOMet)
	}
}

func TestRTOMissedWhenVerificationFailed(t *testing.T) {
	s := status(t, `[{"id": "verify", "uses": "postgres.verify", "state": "failed", "ended": "2026-07-20T15:00:02Z"}]`)
	m := measure(s, start.Add(time.Minute))
	if !strings.Contains(m.RTO, "not recovered") || m.RTOMet == nil || *m.RTOMet {
		t.Errorf("RTO %q met %v, want not recovered and missed", m.RTO, m.RTOMet)
	}
	if m.RPO != "" || m.RPOMet != nil {
		t.Errorf("a failed verification measured an RPO: %q", m.RPO)
	}
}

func TestRTOWithoutVerificationIsToTheReport(t *testing.T) {
	s := status(t, `[{"id": "restore", "uses": "postgres.restore", "state": "succeeded"}]`)
	m := measure(s, start.Add(90*time.Second+400*time.Millisecond))
	if m.RTO != "1m30s to this report (no verification)" || m.RTOMet == nil || !*m.RTOMet {
		t.Errorf("RTO %q met %v", m.RTO, m.RTOMet)
	}
	s.Targets.RTO = "1m0s"
	if m := measure(s, start.Add(90*time.Second)); m.RTOMet == nil || *m.RTOMet {
		t.Errorf("90 s against a 1 min target: met %v", m.RTOMet)
	}
}

// TestRPOIsFromTheMomentOfTheLoss measures the data lost from the
// incident's failure time, not from when the run started: a PITR to just
// before the damage lost a few seconds however late the recovery began.
func TestRPOIsFromTheMomentOfTheLoss(t *testing.T) {
	s := status(t, `[{"id": "verify", "uses": "postgres.verify", "state": "succeeded", "ended": "2026-07-20T15:00:05Z",
		"outputs": {"rpo": "2h0m3s", "newest_event": "2026-07-20T12:59:57Z"}}]`)
	if m := measure(s, start.Add(time.Minute)); m.RPO != "2h0m3s" {
		t.Errorf("without a moment of loss the RPO is to the run's start: %q", m.RPO)
	}
	lost := time.Date(2026, 7, 20, 13, 0, 0, 0, time.UTC)
	s.Targets.LostAt = &lost
	if m := measure(s, start.Add(time.Minute)); m.RPO != "3s" || m.RPOMet == nil || !*m.RPOMet {
		t.Errorf("RPO from the moment of loss: %q met %v, want 3s", m.RPO, m.RPOMet)
	}
	if d := rpoDefinition(s); !strings.Contains(d, "2026-07-20 13:00:00.000 UTC") {
		t.Errorf("the report's definition of its RPO: %q", d)
	}
}

func TestRPOAboveTargetIsMissed(t *testing.T) {
	s := status(t, `[{"id": "verify", "uses": "postgres.verify", "state": "succeeded", "ended": "2026-07-20T15:00:05Z", "outputs": {"rpo": "48h0m0s"}}]`)
	if m := measure(s, start.Add(time.Minute)); m.RPOMet == nil || *m.RPOMet {
		t.Errorf("RPO 48h against 36h: met %v", m.RPOMet)
	}
}

func TestWriteMarkdownAndJSON(t *testing.T) {
	s := status(t, `[
		{"id": "verify", "uses": "postgres.verify", "state": "succeeded", "started": "2026-07-20T15:00:00Z", "ended": "2026-07-20T15:00:03Z", "attempts": 1, "outputs": {"rpo": "48h0m0s"}},
		{"id": "latest_events", "uses": "postgres.latest_events", "state": "succeeded", "outputs": {"columns": ["id", "kind"], "rows": [{"id": 7, "kind": "a|b"}]}},
		{"id": "alarm", "uses": "notify", "state": "not-run"}]`)
	if err := json.Unmarshal([]byte(`[{"step": "approve", "prompt": "Swap?", "users": ["ben", "chen"], "quorum": 1, "outcome": "approved",
		"votes": [{"user": "ben", "approve": true, "comment": "counts match", "at": "2026-07-20T15:00:02Z"}]}]`), &s.Gates); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := (&Report{Dir: dir}).Write(context.Background(), WriteInput{Title: "Drill", Status: s, Run: stepio.RunContext{ID: "run/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Files) != 2 || out.RTO != "3s" || out.RPO != "48h0m0s" {
		t.Fatalf("%+v", out)
	}
	md, err := os.ReadFile(filepath.Join(dir, "run_1", "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Drill", "| RTO | 3s (target 1h0m0s) ✓ met |", "| RPO | 48h0m0s (target 36h0m0s) ✗ MISSED |",
		"| verify | postgres.verify | succeeded | 3s | 1 |", "| alarm | notify | not-run |",
		"ben approved at 2026-07-20T15:00:02Z (unsigned): counts match", "| 7 | a\\|b |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	var doc struct {
		Measured struct {
			RTO    string `json:"rto"`
			RPOMet *bool  `json:"rpo_met"`
		} `json:"measured"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "run_1", "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Measured.RTO != "3s" || doc.Measured.RPOMet == nil || *doc.Measured.RPOMet {
		t.Errorf("report.json: %v %+v", err, doc)
	}
	if _, err := (&Report{Dir: dir}).Write(context.Background(), WriteInput{Status: s, Formats: []string{"pdf"}}); err == nil || !strings.Contains(err.Error(), `"pdf"`) {
		t.Errorf("an unknown format: %v", err)
	}
}

// A run that ended (cancelled, or failed before it verified anything) is
// measured to its end, not to whenever its report is written.
func TestRTOOfAnEndedRunIsToItsEnd(t *testing.T) {
	s := status(t, `[{"id": "restore", "uses": "postgres.restore", "state": "failed", "ended": "2026-07-20T15:04:00Z"}]`)
	s.State = "failed"
	s.Timeline = append(s.Timeline, s.Timeline[0])
	s.Timeline[1].At, s.Timeline[1].Kind = start.Add(5*time.Minute), "failed"
	m := measure(s, start.Add(48*time.Hour))
	if m.RTO != "5m0s to the end of the run (no verification)" {
		t.Errorf("RTO %q", m.RTO)
	}
	md := newView("", "run-1", s, m).markdown()
	for _, want := range []string{"# nightly-restore on staging", "| ended | failed at 2026-07-20T15:05:00Z |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if s.State = "running"; strings.Contains(newView("", "run-1", s, measure(s, start)).markdown(), "| ended |") {
		t.Error("a running run's report says it ended")
	}
}

// The HTML report is one page whose values are escaped: a step's error or
// a restored row is data, never markup.
func TestWriteHTML(t *testing.T) {
	s := status(t, `[
		{"id": "verify", "uses": "postgres.verify", "state": "succeeded", "ended": "2026-07-20T15:00:03Z", "outputs": {"rpo": "48h0m0s"}},
		{"id": "latest_events", "uses": "postgres.latest_events", "state": "succeeded", "outputs": {"columns": ["kind"], "rows": [{"kind": "<img src=x>"}]}},
		{"id": "alarm", "uses": "exec", "state": "failed", "error": "<script>alert(1)</script> exited with 1"}]`)
	dir := t.TempDir()
	out, err := Files(dir, "Drill & more", "run-1", s, []string{"html"}, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Files) != 1 || filepath.Base(out.Files[0]) != "report.html" {
		t.Fatalf("files %v", out.Files)
	}
	raw, err := os.ReadFile(out.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	page := string(raw)
	for _, want := range []string{
		"<title>Drill &amp; more</title>", `<span class="met"> ✓ met</span>`, `<span class="missed"> ✗ MISSED</span>`,
		`<td class="failed">failed</td>`, "&lt;script&gt;alert(1)&lt;/script&gt; exited with 1", "<td>&lt;img src=x&gt;</td>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") {
		t.Errorf("report.html carries a value as markup:\n%s", page)
	}
}

// A failed drill's report is evidence: it opens with how the run ended,
// names the backup, lists what verification checked with each verdict,
// and shows values as people read them, never as Go maps or floats.
func TestReportIsEvidence(t *testing.T) {
	s := status(t, `[
		{"id": "find_backup", "uses": "backup.latest", "state": "succeeded", "outputs": {"key": "production/2026-07-20/register-020000Z.dump.zst.age",
			"size": 14609152, "sha256": "ab12", "stopped_at": "2026-07-20T02:00:00Z",
			"source": {"system_id": "7312345678901234567", "server": "db.internal:5432", "database_oid": 16384, "version": "15.18"}}},
		{"id": "verify", "uses": "postgres.verify", "state": "failed", "error": "0 rows in 3 tables", "outputs": {"checks": [
			{"name": "not empty", "expected": ">= 1 rows", "actual": "0 rows in 3 tables (public.events, public.registrations, public.users)", "ok": false},
			{"name": "rows in public.users", "expected": "5000 ± 0", "actual": "0", "ok": false}]}},
		{"id": "stats", "uses": "postgres.latest_events", "state": "succeeded", "outputs": {"columns": ["payload"], "rows": [{"payload": {"n": 100000, "r": 320}}]}},
		{"id": "report", "uses": "report.write", "state": "running"},
		{"id": "alarm", "uses": "notify", "state": "pending"}]`)
	s.State = "failed"
	v := newView("", "run-1", s, measure(s, start.Add(time.Minute)))
	md := v.markdown()
	for _, want := range []string{
		"**FAILED at step verify: 0 rows in 3 tables**",
		"| backup | production/2026-07-20/register-020000Z.dump.zst.age |", "| backup size | 14 MiB |",
		"instance 7312345678901234567 at db.internal:5432, database OID 16384",
		"## what verify checked", "| not empty | >= 1 rows | 0 rows in 3 tables (public.events, public.registrations, public.users) | ✗ FAILED |",
		`| {"n":100000,"r":320} |`,
		"| report | report.write | written (this report) |", "| alarm | notify | after this report |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "map[") || strings.Contains(md, "e+07") {
		t.Errorf("the report shows Go values:\n%s", md)
	}
	var b strings.Builder
	if err := v.html(&b); err != nil || !strings.Contains(b.String(), `<p class="banner missed">FAILED at step verify`) {
		t.Fatalf("html banner: %v\n%s", err, b.String())
	}
}

// RPO is what was lost: the newest restored event to the run's start, not
// its age when verified, which would count the recovery's own time.
func TestRPOIsToTheRunsStart(t *testing.T) {
	s := status(t, `[{"id": "verify", "uses": "postgres.verify", "state": "succeeded", "ended": "2026-07-20T15:09:00Z",
		"outputs": {"rpo": "9m30s", "newest_event": "2026-07-20T14:59:30Z"}}]`)
	if m := measure(s, start.Add(10*time.Minute)); m.RPO != "30s" || m.RPOMet == nil || !*m.RPOMet {
		t.Fatalf("RPO %q met %v, want 30s (14:59:30 to the 15:00 start)", m.RPO, m.RPOMet)
	}
}

// The HTML report draws where the time went: one bar a step, on one scale,
// inline SVG with no script and no outside link.
func TestHTMLDrawsTheTimeline(t *testing.T) {
	s := status(t, `[
		{"id": "restore", "uses": "postgres.restore", "state": "succeeded", "started": "2026-07-20T15:00:00Z", "ended": "2026-07-20T15:00:30Z"},
		{"id": "verify", "uses": "postgres.verify", "state": "failed", "started": "2026-07-20T15:00:30Z", "ended": "2026-07-20T15:00:40Z"}]`)
	var b strings.Builder
	if err := newView("", "run-1", s, measure(s, start.Add(time.Minute))).html(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{"<svg class=\"chart\"", "Where the time went (40s)", `width="420"`, `class="bar failed"`, "<title>verify: 10s</title>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the chart lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("the report has a script or an outside link")
	}
}
