// Package report writes a run's evidence: the timeline, every step's duration
// and outputs, every approval, and the measured RTO and RPO.
package report

import (
	"time"

	"github.com/drctl/drctl/activities/stepio"
	"github.com/drctl/drctl/workflows"
)

// WriteInput chooses where and in which formats the report is written.
type WriteInput struct {
	Title   string   `json:"title,omitempty"`                             // the heading; default RUNBOOK on ENV
	Dir     string   `json:"dir,omitempty"`                               // where reports go, a folder per run; default the worker's report folder
	Formats []string `json:"formats,omitempty" enum:"markdown,json,html"` // markdown, json, html; default markdown and json
	// Status is the run so far, handed over by the interpreter.
	Status RunStatus         `json:"run_status" drctl:"internal"`
	Run    stepio.RunContext `json:"run" drctl:"internal"`
}

// WriteOutput names the files written and the measured objectives.
type WriteOutput struct {
	Files []string `json:"files"`
	RTO   string   `json:"rto"`
	RPO   string   `json:"rpo"`
}

// RunStatus is the part of a run's status a report shows; it reads the
// JSON of the interpreter's status.
type RunStatus struct {
	Runbook     string  `json:"runbook"`
	Environment string  `json:"environment"`
	PlanHash    string  `json:"plan_hash"`
	Initiator   string  `json:"initiator"`
	Incident    string  `json:"incident"`
	State       string  `json:"state"`
	Targets     Targets `json:"targets"`
	Steps       []struct {
		ID       string         `json:"id"`
		Uses     string         `json:"uses"`
		State    string         `json:"state"`
		Attempts int            `json:"attempts"`
		Started  time.Time      `json:"started"`
		Ended    time.Time      `json:"ended"`
		Outputs  map[string]any `json:"outputs"`
		Error    string         `json:"error"`
	} `json:"steps"`
	Gates []struct {
		Step    string   `json:"step"`
		Prompt  string   `json:"prompt"`
		Users   []string `json:"users"`
		Quorum  int      `json:"quorum"`
		Outcome string   `json:"outcome"`
		Votes   []struct {
			User      string               `json:"user"`
			Approve   bool                 `json:"approve"`
			Comment   string               `json:"comment"`
			At        time.Time            `json:"at"`
			Signer    string               `json:"signer,omitempty"`
			Signature *workflows.Signature `json:"signature,omitempty"`
		} `json:"votes"`
	} `json:"gates"`
	Timeline []struct {
		At        time.Time            `json:"at"`
		Step      string               `json:"step"`
		Kind      string               `json:"kind"`
		By        string               `json:"by"`
		Message   string               `json:"message"`
		Signature *workflows.Signature `json:"signature,omitempty"`
	} `json:"timeline"`
}

// Targets are the runbook's recovery objectives, as text ("1h0m0s").
type Targets struct {
	RTO string `json:"rto"`
	RPO string `json:"rpo"`
	// LostAt is when the data was lost, where the runbook knows it.
	LostAt *time.Time `json:"lost_at"`
}

// ended tells whether the run is over: the interpreter sets the run's
// state when it ends; report.write itself sees it running.
func (s RunStatus) ended() bool { return s.State != "" && s.State != "running" }

// lastEvent is when the run last did anything: its end, once it ended.
func (s RunStatus) lastEvent() time.Time {
	var last time.Time
	for _, e := range s.Timeline {
		if e.At.After(last) {
			last = e.At
		}
	}
	for _, st := range s.Steps {
		if st.Ended.After(last) {
			last = st.Ended
		}
	}
	return last
}
