// Package report writes a run's evidence: the timeline, every step's duration
// and outputs, every approval, and the measured RTO and RPO.
package report

// WriteInput chooses where and in which formats the report is written.
type WriteInput struct {
	Title   string   `json:"title,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	Formats []string `json:"formats,omitempty" enum:"markdown,json,html"`
}

// WriteOutput names the files written.
type WriteOutput struct {
	Files []string `json:"files"`
}
