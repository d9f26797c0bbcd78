package workflows

import "go.temporal.io/sdk/temporal"

// Search attributes recorded on every run, so runs can be listed by
// runbook, environment, incident and initiator.
var (
	SearchRunbook     = temporal.NewSearchAttributeKeyKeyword("DrctlRunbook")
	SearchEnvironment = temporal.NewSearchAttributeKeyKeyword("DrctlEnvironment")
	SearchIncident    = temporal.NewSearchAttributeKeyKeyword("DrctlIncident")
	SearchInitiator   = temporal.NewSearchAttributeKeyKeyword("DrctlInitiator")
)

// SearchAttributeNames are the names the server must know.
var SearchAttributeNames = []string{"DrctlRunbook", "DrctlEnvironment", "DrctlIncident", "DrctlInitiator"}

// SearchAttributes are a run's attributes, set when it starts.
func SearchAttributes(in RunInput) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SearchRunbook.ValueSet(in.Plan.Runbook),
		SearchEnvironment.ValueSet(in.Plan.Environment),
		SearchIncident.ValueSet(in.Incident),
		SearchInitiator.ValueSet(in.Initiator),
	)
}
