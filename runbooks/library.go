package runbooks

import "embed"

// Library holds the shipped runbooks (library/*.yaml), built into the
// binary so that drctl demo, and Slack's /drctl run where no folder is
// configured, work from any directory.
//
//go:embed library/*.yaml
var Library embed.FS
