package runs

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/drctl/drctl/activities/report"
	"github.com/drctl/drctl/workflows"
)

// Summary is what a run came to, as drctl drill history and the demo show
// it.
type Summary struct {
	Run     string    `json:"run"`
	Drill   string    `json:"drill"`
	Started time.Time `json:"started"`
	State   string    `json:"state"`
	// RTO is start to the end of the run; RPO the age of the newest
	// restored event when it was verified.
	RTO    string `json:"rto,omitempty"`
	RPO    string `json:"rpo,omitempty"`
	Backup string `json:"backup,omitempty"`
	Rows   any    `json:"rows,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Fill takes the summary from the run's status.
func (r *Summary) Fill(st workflows.Status) {
	r.Drill, r.State = strings.TrimPrefix(st.Initiator, "schedule:"), st.State
	for _, s := range st.Steps {
		if k, ok := s.Outputs["key"].(string); ok && s.Uses == "backup.latest" {
			r.Backup = k
		}
		if s.Uses == "postgres.verify" {
			r.Rows = s.Outputs["rows"]
		}
		if s.State == workflows.StateFailed && r.Error == "" {
			r.Error = s.Error
		}
	}
	// RTO and RPO as the run's report measures them.
	if rs, err := ReportStatus(st); err == nil {
		r.RTO, r.RPO = report.Measure(rs, time.Now())
	}
}

// ReportStatus is a run's status as the report reads it: its JSON, as
// report.write receives it.
func ReportStatus(st workflows.Status) (report.RunStatus, error) {
	var rs report.RunStatus
	b, err := json.Marshal(st)
	if err == nil {
		err = json.Unmarshal(b, &rs)
	}
	return rs, err
}
