package output

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/vigilsec/vigil/scorer/finding"
)

// AWSConfig loads the standard AWS configuration (credential chain, region)
// with an optional region override.
func AWSConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	return cfg, nil
}

// EventBridge limits for PutEvents.
const (
	EventBridgeMaxEntries = 10
	EventBridgeMaxBytes   = 256 << 10
)

// EventBridge puts findings on an event bus, GuardDuty-style: the detail is
// the finding, the detail type "Vigil Runtime Finding". Failed entries are
// retried on their own, with backoff, up to attempts times.
type EventBridge struct {
	client     *eventbridge.Client
	bus        string
	source     string
	detailType string
	attempts   int
	delay      time.Duration
}

// EventBridgeConfig configures the output.
type EventBridgeConfig struct {
	Bus        string // name or ARN; default "default"
	Source     string // default "vigil" (the aws. prefix is reserved)
	DetailType string // default "Vigil Runtime Finding"
	Endpoint   string // custom endpoint (tests, VPC endpoints)
	Attempts   int    // per failed entry (default 5)
	BaseDelay  time.Duration
}

// NewEventBridge returns the output for cfg.
func NewEventBridge(awsCfg aws.Config, c EventBridgeConfig) *EventBridge {
	if c.Bus == "" {
		c.Bus = "default"
	}
	if c.Source == "" {
		c.Source = "vigil"
	}
	if c.DetailType == "" {
		c.DetailType = "Vigil Runtime Finding"
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = 200 * time.Millisecond
	}
	client := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return &EventBridge{client: client, bus: c.Bus, source: c.Source, detailType: c.DetailType, attempts: c.Attempts, delay: c.BaseDelay}
}

func (o *EventBridge) Name() string { return "eventbridge:" + o.bus }

func (o *EventBridge) Write(ctx context.Context, batch []Record) error {
	var entries []ebtypes.PutEventsRequestEntry
	// A finding too large for one entry cannot be sent at all; it is
	// counted as failed (and reported) rather than dropped silently.
	failed := 0
	var failErr error
	for _, r := range batch {
		detail, err := json.Marshal(r.Finding)
		if err != nil {
			return Permanent(err)
		}
		e := ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String(o.bus), Source: aws.String(o.source), DetailType: aws.String(o.detailType),
			Detail: aws.String(string(detail)), Time: aws.Time(r.Finding.UpdatedAt),
		}
		if size := entrySize(e); size > EventBridgeMaxBytes {
			failed++
			failErr = fmt.Errorf("eventbridge: finding %s is %d bytes, over the %d byte entry limit", r.Finding.ID, size, EventBridgeMaxBytes)
			continue
		}
		entries = append(entries, e)
	}
	// Pack entries into calls of at most 10 entries and 256 KB. A call
	// that fails as a whole fails the batch (retried: delivery is at least
	// once); entries rejected for good are counted and the rest go on.
	for len(entries) > 0 {
		n, size := 0, 0
		for n < len(entries) && n < EventBridgeMaxEntries && size+entrySize(entries[n]) <= EventBridgeMaxBytes {
			size += entrySize(entries[n])
			n++
		}
		if err := o.put(ctx, entries[:n]); err != nil {
			p, ok := err.(partial)
			if !ok {
				return err
			}
			failed, failErr = failed+p.failed, p.err
		}
		entries = entries[n:]
	}
	if failed > 0 {
		return Partial(failed, failErr)
	}
	return nil
}

// put sends one call and retries only the entries that failed.
func (o *EventBridge) put(ctx context.Context, entries []ebtypes.PutEventsRequestEntry) error {
	delay := o.delay
	for attempt := 1; ; attempt++ {
		out, err := o.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			return fmt.Errorf("eventbridge PutEvents: %w", err)
		}
		if out.FailedEntryCount == 0 {
			return nil
		}
		var retry []ebtypes.PutEventsRequestEntry
		var lastErr string
		for i, r := range out.Entries {
			if r.ErrorCode != nil && i < len(entries) {
				retry = append(retry, entries[i])
				lastErr = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
			}
		}
		if len(retry) == 0 { // count without per-entry detail: resend all
			retry = entries
		}
		if attempt >= o.attempts {
			return Partial(len(retry), fmt.Errorf("eventbridge: %d entries still failing after %d attempts (%s)", len(retry), attempt, lastErr))
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
		delay *= 2
		entries = retry
	}
}

// entrySize is how EventBridge counts an entry against the 256 KB limit.
func entrySize(e ebtypes.PutEventsRequestEntry) int {
	n := 14 // Time
	n += len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

func (o *EventBridge) Close() error { return nil }

// SecurityHub imports findings as ASFF with BatchImportFindings (at most 100
// per call); findings Security Hub rejects are reported with its reason.
type SecurityHub struct {
	client *securityhub.Client
	cfg    finding.ASFFConfig
}

// NewSecurityHub returns the output; endpoint may be empty.
func NewSecurityHub(awsCfg aws.Config, cfg finding.ASFFConfig, endpoint string) *SecurityHub {
	if cfg.Region == "" {
		cfg.Region = awsCfg.Region
	}
	client := securityhub.NewFromConfig(awsCfg, func(o *securityhub.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return &SecurityHub{client: client, cfg: cfg}
}

func (o *SecurityHub) Name() string { return "securityhub" }

func (o *SecurityHub) Write(ctx context.Context, batch []Record) error {
	all := make([]finding.ASFF, len(batch))
	for i, r := range batch {
		all[i] = finding.ToASFF(r.Finding, o.cfg)
	}
	failed := 0
	var failErr error
	for _, chunk := range finding.BatchASFF(all) {
		in := make([]shtypes.AwsSecurityFinding, len(chunk))
		for i := range chunk {
			// ASFF JSON field names are the SDK's field names, so the
			// SDK type decodes straight from it.
			b, err := json.Marshal(chunk[i])
			if err != nil {
				return Permanent(err)
			}
			if err := json.Unmarshal(b, &in[i]); err != nil {
				return Permanent(fmt.Errorf("securityhub: converting finding %s: %w", chunk[i].ID, err))
			}
		}
		out, err := o.client.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: in})
		if err != nil {
			return fmt.Errorf("securityhub BatchImportFindings: %w", err)
		}
		if n := aws.ToInt32(out.FailedCount); n > 0 {
			f := out.FailedFindings[0]
			failed += int(n)
			failErr = fmt.Errorf("securityhub rejected %d findings, e.g. %s: %s %s", n,
				aws.ToString(f.Id), aws.ToString(f.ErrorCode), aws.ToString(f.ErrorMessage))
		}
	}
	if failed > 0 {
		return Partial(failed, failErr)
	}
	return nil
}

func (o *SecurityHub) Close() error { return nil }
