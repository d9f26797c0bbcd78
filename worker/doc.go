// Package worker wires drctl together: it reads the environments file and
// secrets, builds the clients, and registers the interpreter workflow and
// every activity on a task queue.
package worker
