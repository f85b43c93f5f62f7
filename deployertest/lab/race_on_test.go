//go:build race

package lab

// raceDetector reports whether the test binary was built with -race.
const raceDetector = true
