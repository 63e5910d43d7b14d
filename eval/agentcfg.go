package eval

import (
	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/agent"
)

// EngineConfig is the scorer configuration the agent builds from cfg, so a
// replay scores exactly as that agent would.
func EngineConfig(cfg agent.Config) scorer.Config {
	return scorer.Config{
		AccountID: cfg.AccountID, Region: cfg.Region, Features: cfg.Features, Aggregation: cfg.Aggregation,
		Suppressions: cfg.Suppressions, AutoSuppress: cfg.AutoSuppress, MaxWorkloads: cfg.MaxWorkloads,
	}
}
