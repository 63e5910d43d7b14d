// Package datasets holds Vigil's labelled data: the scenario library (benign
// workloads, attacks and anomalies run in real containers) and, in its
// sub-packages, the runner, the image builder, the simulator program the
// images run, and importers for public research datasets.
package datasets

import (
	"embed"

	"github.com/vigilsec/vigil/datasets/scenario"
)

//go:embed scenarios
var scenarioFS embed.FS

// Library loads the scenario files shipped with Vigil.
func Library() (*scenario.Library, error) {
	return scenario.LoadFS(scenarioFS, "scenarios")
}

// ReadFile returns a library file as shipped (a Scenario's File).
func ReadFile(path string) ([]byte, error) {
	return scenarioFS.ReadFile(path)
}
