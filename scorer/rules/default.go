package rules

import (
	"embed"
)

//go:embed default/*.yaml
var defaultFS embed.FS

// DefaultSources returns the embedded default rule pack, covering the
// GuardDuty Runtime Monitoring finding types Vigil can observe.
func DefaultSources() []Source {
	srcs, err := ReadFS(defaultFS, "default", "default")
	if err != nil {
		panic(err) // embedded at build time; a failure here is a build bug
	}
	return srcs
}
