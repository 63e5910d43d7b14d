// Package agent runs Vigil on a host: the collector's live events go through
// the scorer to the outputs, optionally also to the trace lake; rules, intel
// and model bundles reload while it runs; Prometheus metrics and a health
// endpoint report what it sees and loses.
package agent

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/scorer"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/intel"
	"github.com/vigilsec/vigil/scorer/output"
	"github.com/vigilsec/vigil/scorer/response"
)

// Config is the agent's YAML configuration. Flags override some fields.
type Config struct {
	Host      string `yaml:"host"`
	AccountID string `yaml:"account_id"`
	Region    string `yaml:"region"`
	// Listen is the address of /metrics and /healthz; keep it on loopback.
	Listen string `yaml:"listen"`

	Rules struct {
		// DefaultPack loads the embedded GuardDuty rule pack (default true).
		DefaultPack *bool    `yaml:"default_pack"`
		Dirs        []string `yaml:"dirs"`
	} `yaml:"rules"`
	Intel struct {
		Lists []intel.List `yaml:"lists"`
		// DGACorpus is an optional file of benign domains (one a line) to
		// train the DGA model on instead of the built-in generated corpus.
		DGACorpus string `yaml:"dga_corpus"`
	} `yaml:"intel"`
	Models struct {
		Root string `yaml:"root"` // local dir or s3://bucket/prefix; empty: rules only
	} `yaml:"models"`
	// Reload is how often rules, intel and models are checked for changes.
	Reload time.Duration `yaml:"reload"`

	Features     features.Config          `yaml:"features"`
	Aggregation  finding.AggregatorConfig `yaml:"aggregation"`
	Suppressions []scorer.Suppression     `yaml:"suppressions"`
	AutoSuppress scorer.AutoSuppress      `yaml:"auto_suppress"`
	MaxWorkloads int                      `yaml:"max_workloads"`

	Outputs struct {
		Stdout *struct {
			Format output.Format `yaml:"format"`
		} `yaml:"stdout"`
		File *struct {
			Path     string        `yaml:"path"`
			MaxBytes int64         `yaml:"max_bytes"`
			Keep     int           `yaml:"keep"`
			Format   output.Format `yaml:"format"`
		} `yaml:"file"`
		Webhooks []struct {
			URL     string            `yaml:"url"`
			Headers map[string]string `yaml:"headers"`
			Format  output.Format     `yaml:"format"`
		} `yaml:"webhooks"`
		EventBridge *struct {
			Bus        string `yaml:"bus"`
			Source     string `yaml:"source"`
			DetailType string `yaml:"detail_type"`
			Endpoint   string `yaml:"endpoint"`
		} `yaml:"eventbridge"`
		SecurityHub *struct {
			ProductArn string `yaml:"product_arn"`
			Endpoint   string `yaml:"endpoint"`
		} `yaml:"securityhub"`
		Queue output.QueueConfig `yaml:"queue"`
	} `yaml:"outputs"`

	Response struct {
		response.Config `yaml:",inline"`
		ECSEndpoint     string `yaml:"ecs_endpoint"`
	} `yaml:"response"`

	Lake struct {
		// Root enables trace upload: every event also goes to the lake.
		Root string `yaml:"root"`
	} `yaml:"lake"`

	Collector struct {
		// ProcRoot is the host's procfs (default /proc; in a container
		// with the host's /proc mounted elsewhere, that path).
		ProcRoot  string `yaml:"proc_root"`
		RateLimit int    `yaml:"rate_limit"`
		RingSize  int    `yaml:"ring_size"`
		Sequence  bool   `yaml:"sequence"`
	} `yaml:"collector"`
}

// Default returns the configuration used when no file is given: the default
// rule pack, JSON lines on stdout, metrics on loopback.
func Default() Config {
	var c Config
	c.Listen = "127.0.0.1:9464"
	c.Reload = 30 * time.Second
	c.Outputs.Stdout = &struct {
		Format output.Format `yaml:"format"`
	}{}
	c.AutoSuppress.Enabled = true
	return c
}

// Load reads a YAML config over the defaults. Unknown fields are errors,
// reported with the file and line.
func Load(path string) (Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("agent config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("agent config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("agent config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks what the YAML decoder cannot.
func (c *Config) Validate() error {
	for i := range c.Suppressions {
		if err := c.Suppressions[i].Validate(); err != nil {
			return err
		}
	}
	if err := c.Response.Config.Validate(); err != nil {
		return err
	}
	if err := c.Features.Validate(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	for _, l := range c.Intel.Lists {
		if l.URL == "" || l.Category == "" {
			return fmt.Errorf("intel list %+v: url and category are required", l)
		}
	}
	if c.Outputs.File != nil && c.Outputs.File.Path == "" {
		return fmt.Errorf("outputs.file: path is required")
	}
	for _, f := range []output.Format{formatOf(c.Outputs.Stdout), fileFormat(c)} {
		if f != "" && f != output.FormatFinding && f != output.FormatASFF && f != output.FormatOCSF {
			return fmt.Errorf("output format %q: want finding, asff or ocsf", f)
		}
	}
	if c.Reload < 0 {
		return fmt.Errorf("reload must not be negative")
	}
	return nil
}

func formatOf(s *struct {
	Format output.Format `yaml:"format"`
}) output.Format {
	if s == nil {
		return ""
	}
	return s.Format
}

func fileFormat(c *Config) output.Format {
	if c.Outputs.File == nil {
		return ""
	}
	return c.Outputs.File.Format
}
