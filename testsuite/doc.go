// Package testsuite starts real parts for tests and drills: throwaway
// Postgres clusters, Azurite, an SSH backup server, a fake Slack and an
// embedded Temporal server.
package testsuite
