package models

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/features"
	"github.com/vigilsec/vigil/internal/blob"
)

// IndexFile is the bundle's index; shard runs write ShardIndexFile names
// instead, which Load (or MergeShards) combines.
const IndexFile = "index.json"

// ShardIndexFile names shard i's (0-based) index of n.
func ShardIndexFile(i, n int) string { return fmt.Sprintf("index-shard-%04d-of-%04d.json", i, n) }

const shardPrefix = "index-shard-"

// Index describes a bundle: one file per workload, with checksums.
type Index struct {
	Format    int             `json:"format"`
	Schema    string          `json:"schema"`
	Features  features.Config `json:"features"`
	From      time.Time       `json:"from"`
	To        time.Time       `json:"to"`
	Events    int64           `json:"events"`
	Workloads []IndexEntry    `json:"workloads"` // sorted by Workload
	// Shard is "i/n" in a shard's index, empty in a complete one.
	Shard string `json:"shard,omitempty"`
}

// IndexEntry is one workload's model file.
type IndexEntry struct {
	Workload  string    `json:"workload"`
	File      string    `json:"file"`
	SHA256    string    `json:"sha256"`
	Bytes     int64     `json:"bytes"`
	Events    int64     `json:"events"`
	Windows   int64     `json:"windows"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Converged bool      `json:"converged"`
}

// ShardOf places a workload in one of n shards by a stable hash of its key.
func ShardOf(workload string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(workload))
	return int(h.Sum64() % uint64(n))
}

// ModelFile is the key a workload's model is stored under: readable, and
// unique through a hash of the exact key.
func ModelFile(workload string) string {
	var b strings.Builder
	for _, r := range workload {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	h := fnv.New32a()
	h.Write([]byte(workload))
	return fmt.Sprintf("workloads/%s-%08x.json", b.String(), h.Sum32())
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Write stores models and then the index that publishes them, so a reader
// never finds an index naming a file that is not there yet. shard and
// shards are 0 and 1 for a complete bundle.
func Write(ctx context.Context, st blob.Store, ms []*Model, shard, shards int) (Index, error) {
	if shards < 1 || shard < 0 || shard >= shards {
		return Index{}, fmt.Errorf("shard %d/%d out of range", shard, shards)
	}
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b *Model) int { return strings.Compare(a.Workload, b.Workload) })
	idx := Index{Format: FormatVersion, Workloads: []IndexEntry{}}
	if shards > 1 {
		idx.Shard = fmt.Sprintf("%d/%d", shard, shards)
	}
	for i, m := range ms {
		if i == 0 {
			idx.Schema, idx.Features = m.Schema, m.Features
		} else if m.Schema != idx.Schema {
			return Index{}, fmt.Errorf("workload %q: schema %s differs from %s", m.Workload, m.Schema, idx.Schema)
		}
		if ShardOf(m.Workload, shards) != shard {
			return Index{}, fmt.Errorf("workload %q belongs to shard %d, not %d", m.Workload, ShardOf(m.Workload, shards), shard)
		}
		data, err := encode(m)
		if err != nil {
			return Index{}, fmt.Errorf("encoding model of %q: %w", m.Workload, err)
		}
		key := ModelFile(m.Workload)
		if err := st.Put(ctx, key, data); err != nil {
			return Index{}, fmt.Errorf("writing %s: %w", key, err)
		}
		sum := sha256.Sum256(data)
		idx.Workloads = append(idx.Workloads, IndexEntry{
			Workload: m.Workload, File: key, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data)),
			Events: m.Training.Events, Windows: m.Training.Windows + m.Training.HeldOut,
			From: m.Training.From, To: m.Training.To, Converged: m.Converged(),
		})
	}
	summarise(&idx)
	name := IndexFile
	if shards > 1 {
		name = ShardIndexFile(shard, shards)
	}
	data, err := encode(idx)
	if err != nil {
		return Index{}, err
	}
	if err := st.Put(ctx, name, data); err != nil {
		return Index{}, fmt.Errorf("writing %s: %w", name, err)
	}
	return idx, nil
}

func summarise(idx *Index) {
	idx.Events, idx.From, idx.To = 0, time.Time{}, time.Time{}
	for i, e := range idx.Workloads {
		idx.Events += e.Events
		if i == 0 || e.From.Before(idx.From) {
			idx.From = e.From
		}
		if i == 0 || e.To.After(idx.To) {
			idx.To = e.To
		}
	}
}

// ReadIndex reads a bundle's index; without index.json, it combines a
// complete set of shard indexes.
func ReadIndex(ctx context.Context, st blob.Store) (Index, error) {
	data, err := st.Get(ctx, IndexFile)
	if err == nil {
		var idx Index
		if err := decodeStrict(data, &idx); err != nil {
			return Index{}, fmt.Errorf("model bundle %s: %s: %w", st.URL(), IndexFile, err)
		}
		if idx.Format != FormatVersion {
			return Index{}, fmt.Errorf("model bundle %s: %s: format %d, this build reads %d", st.URL(), IndexFile, idx.Format, FormatVersion)
		}
		return idx, nil
	}
	if !errors.Is(err, blob.ErrNotFound) {
		return Index{}, fmt.Errorf("model bundle %s: reading %s: %w", st.URL(), IndexFile, err)
	}
	return mergeShards(ctx, st)
}

func mergeShards(ctx context.Context, st blob.Store) (Index, error) {
	objs, err := st.List(ctx, shardPrefix)
	if err != nil {
		return Index{}, fmt.Errorf("model bundle %s: listing shard indexes: %w", st.URL(), err)
	}
	if len(objs) == 0 {
		return Index{}, fmt.Errorf("model bundle %s: no %s (is it a model bundle?)", st.URL(), IndexFile)
	}
	var out Index
	n := -1
	seen := map[int]bool{}
	for _, o := range objs {
		var i, k int
		if _, err := fmt.Sscanf(o.Key, "index-shard-%04d-of-%04d.json", &i, &k); err != nil {
			return Index{}, fmt.Errorf("model bundle %s: %s: not a shard index name", st.URL(), o.Key)
		}
		data, err := st.Get(ctx, o.Key)
		if err != nil {
			return Index{}, fmt.Errorf("model bundle %s: reading %s: %w", st.URL(), o.Key, err)
		}
		var idx Index
		if err := decodeStrict(data, &idx); err != nil {
			return Index{}, fmt.Errorf("model bundle %s: %s: %w", st.URL(), o.Key, err)
		}
		switch {
		case idx.Format != FormatVersion:
			return Index{}, fmt.Errorf("model bundle %s: %s: format %d, this build reads %d", st.URL(), o.Key, idx.Format, FormatVersion)
		case n >= 0 && k != n:
			return Index{}, fmt.Errorf("model bundle %s: %s: from a %d-shard run, others from %d shards", st.URL(), o.Key, k, n)
		case out.Schema != "" && idx.Schema != "" && idx.Schema != out.Schema:
			return Index{}, fmt.Errorf("model bundle %s: %s: schema %s differs from %s", st.URL(), o.Key, idx.Schema, out.Schema)
		}
		n = k
		seen[i] = true
		if out.Schema == "" && idx.Schema != "" {
			out.Schema, out.Features = idx.Schema, idx.Features
		}
		out.Workloads = append(out.Workloads, idx.Workloads...)
	}
	for i := 0; i < n; i++ {
		if !seen[i] {
			return Index{}, fmt.Errorf("model bundle %s: shard %s missing", st.URL(), ShardIndexFile(i, n))
		}
	}
	out.Format = FormatVersion
	if out.Workloads == nil {
		out.Workloads = []IndexEntry{}
	}
	slices.SortFunc(out.Workloads, func(a, b IndexEntry) int { return strings.Compare(a.Workload, b.Workload) })
	summarise(&out)
	return out, nil
}

// MergeShards writes index.json from a complete set of shard indexes. The
// result is byte-identical to the index of one unsharded run.
func MergeShards(ctx context.Context, st blob.Store) (Index, error) {
	idx, err := mergeShards(ctx, st)
	if err != nil {
		return Index{}, err
	}
	data, err := encode(idx)
	if err != nil {
		return Index{}, err
	}
	if err := st.Put(ctx, IndexFile, data); err != nil {
		return Index{}, fmt.Errorf("writing %s: %w", IndexFile, err)
	}
	return idx, nil
}

func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	return nil
}

// Bundle is a loaded, verified set of workload models.
type Bundle struct {
	URL    string
	Index  Index
	models map[string]*Model
}

// Load reads the bundle at root (a local directory or s3://bucket/prefix)
// completely into memory and verifies it: every file's size and checksum,
// format version, feature schema and internal consistency. Any failure
// rejects the whole bundle with an error naming the file.
func Load(ctx context.Context, root string) (*Bundle, error) {
	st, err := blob.Open(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("opening model bundle %s: %w", root, err)
	}
	return LoadStore(ctx, st)
}

// LoadStore is Load over an open store.
func LoadStore(ctx context.Context, st blob.Store) (*Bundle, error) {
	idx, err := ReadIndex(ctx, st)
	if err != nil {
		return nil, err
	}
	if idx.Schema != "" && idx.Schema != features.SchemaHash(idx.Features) {
		return nil, fmt.Errorf("model bundle %s: index schema %s does not match its feature config (this build computes %s)", st.URL(), idx.Schema, features.SchemaHash(idx.Features))
	}
	b := &Bundle{URL: st.URL(), Index: idx, models: make(map[string]*Model, len(idx.Workloads))}
	for _, e := range idx.Workloads {
		m, err := loadModel(ctx, st, e)
		if err != nil {
			return nil, fmt.Errorf("model bundle %s: %s: %w", st.URL(), e.File, err)
		}
		if m.Schema != idx.Schema {
			return nil, fmt.Errorf("model bundle %s: %s: schema %s, index says %s", st.URL(), e.File, m.Schema, idx.Schema)
		}
		if _, dup := b.models[m.Workload]; dup {
			return nil, fmt.Errorf("model bundle %s: %s: workload %q listed twice", st.URL(), e.File, m.Workload)
		}
		b.models[m.Workload] = m
	}
	return b, nil
}

func loadModel(ctx context.Context, st blob.Store, e IndexEntry) (*Model, error) {
	data, err := st.Get(ctx, e.File)
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if int64(len(data)) != e.Bytes {
		return nil, fmt.Errorf("%d bytes, index says %d (truncated or replaced)", len(data), e.Bytes)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != e.SHA256 {
		return nil, fmt.Errorf("checksum %s, index says %s", got, e.SHA256)
	}
	var m Model
	if err := decodeStrict(data, &m); err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if m.Workload != e.Workload {
		return nil, fmt.Errorf("holds workload %q, index says %q", m.Workload, e.Workload)
	}
	return &m, nil
}

// NewBundle wraps freshly trained models (sorted, as Write would store
// them) for in-memory use: tests, evaluation, replay without a round trip.
func NewBundle(ms []*Model) *Bundle {
	b := &Bundle{URL: "memory", Index: Index{Format: FormatVersion}, models: make(map[string]*Model, len(ms))}
	for i, m := range ms {
		if i == 0 {
			b.Index.Schema, b.Index.Features = m.Schema, m.Features
		}
		b.models[m.Workload] = m
		b.Index.Workloads = append(b.Index.Workloads, IndexEntry{Workload: m.Workload, Events: m.Training.Events,
			Windows: m.Training.Windows + m.Training.HeldOut, From: m.Training.From, To: m.Training.To, Converged: m.Converged()})
	}
	slices.SortFunc(b.Index.Workloads, func(a, c IndexEntry) int { return strings.Compare(a.Workload, c.Workload) })
	summarise(&b.Index)
	return b
}

// Workload returns the model for a workload key, or nil when the bundle has
// none (the scorer then has no baseline for it).
func (b *Bundle) Workload(key string) *Model { return b.models[key] }

// Workloads lists the bundle's workload keys, sorted.
func (b *Bundle) Workloads() []string {
	out := make([]string, 0, len(b.models))
	for k := range b.models {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CheckFeatures reports whether windows built with cfg can be scored by the
// bundle.
func (b *Bundle) CheckFeatures(cfg features.Config) error {
	if len(b.models) == 0 {
		return nil
	}
	if got := features.SchemaHash(cfg); got != b.Index.Schema {
		return fmt.Errorf("model bundle %s was trained on feature schema %s (%+v); the extractor produces %s", b.URL, b.Index.Schema, b.Index.Features, got)
	}
	return nil
}

// Holder keeps the bundle an agent scores with and swaps in a new one only
// once it has loaded completely.
type Holder struct {
	p atomic.Pointer[Bundle]
}

// Get returns the current bundle (nil before the first successful Reload).
func (h *Holder) Get() *Bundle { return h.p.Load() }

// Reload loads root and swaps it in; on error the current bundle stays.
func (h *Holder) Reload(ctx context.Context, root string) (*Bundle, error) {
	b, err := Load(ctx, root)
	if err != nil {
		return nil, err
	}
	h.p.Store(b)
	return b, nil
}
