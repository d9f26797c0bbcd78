package main

import (
	"runtime/debug"
	"strings"
)

// version is this build's module version and the commit it was built
// from, as Go records them in the binary.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		v += ", commit " + rev
		if settings["vcs.modified"] == "true" {
			v += " with local changes"
		}
		if at := settings["vcs.time"]; at != "" {
			v += " of " + at
		}
	}
	return strings.TrimSpace(v + ", " + info.GoVersion)
}
