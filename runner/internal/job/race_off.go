//go:build !race

package job

// supervisorEnv is what a supervisor's environment starts with: nothing (see
// race_on.go for a runner built with the race detector).
func supervisorEnv() []string { return []string{} }
