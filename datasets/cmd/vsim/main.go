// Command vsim is the one program inside Vigil's scenario images: benign
// workloads (web, backend, load generator, batch worker, key-value store, cron),
// the servers attacks talk to (DNS, reverse-shell listener, fake mining pool,
// fake Docker socket) and attack tools that busybox cannot spell (memfd exec,
// ptrace injection, setuid helper, DGA lookups).
//
// It is a multi-call binary: "vsim web ..." or, when copied under another
// name, that name ("nmap", "docker", "xmrig") picks the tool, the way a
// renamed attacker binary would run.
//
// Safety: every client in here dials only loopback or a Unix socket, and the
// cloud metadata address only when the network namespace has no route out
// (see guardDial). Every loop is bounded by a count or by -for.
package main

import (
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/vigilsec/vigil/datasets/simproto"
)

type tool struct {
	run   func(args []string) error
	usage string
}

var tools = map[string]tool{}

func init() {
	register("version", "print the runner protocol version this build speaks", func([]string) error {
		fmt.Println(simproto.Version)
		return nil
	})
}

func register(name, usage string, run func(args []string) error) {
	tools[name] = tool{run: run, usage: usage}
}

// aliases map a renamed binary to its tool.
var aliases = map[string]string{
	"nmap":      "portscan",
	"masscan":   "portscan",
	"xmrig":     "miner",
	"kworkerd":  "miner",
	"docker":    "dockerctl",
	"suid-root": "suid",
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if a, ok := aliases[name]; ok {
		name = a
	} else if _, ok := tools[name]; !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
		if a, ok := aliases[name]; ok {
			name = a
		}
	}
	t, ok := tools[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "vsim: unknown tool %q\n", name)
		usage()
		os.Exit(2)
	}
	if err := t.run(args); err != nil {
		fmt.Fprintf(os.Stderr, "vsim %s: %v\n", name, err)
		os.Exit(1)
	}
}

func usage() {
	names := make([]string, 0, len(tools))
	for n := range tools {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: vsim TOOL [flags]")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, tools[n].usage)
	}
}

// common holds the flags every long-running tool shares.
type common struct {
	seed uint64
	dur  time.Duration
}

func (c *common) flags(fs *flag.FlagSet) {
	seed := uint64(1)
	if s, err := strconv.ParseUint(os.Getenv("VIGIL_SEED"), 10, 64); err == nil {
		seed = s
	}
	dur := 12 * time.Hour
	if d, err := time.ParseDuration(os.Getenv("VIGIL_FOR")); err == nil && d > 0 {
		dur = d
	}
	fs.Uint64Var(&c.seed, "seed", seed, "random seed (default $VIGIL_SEED)")
	fs.DurationVar(&c.dur, "for", dur, "stop after this long (default $VIGIL_FOR or 12h)")
}

// rng is seeded from the run's seed and the tool's name, so two tools in one
// container do not move in lock-step.
func (c *common) rng(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(c.seed, h.Sum64()))
}

func (c *common) deadline() time.Time { return time.Now().Add(c.dur) }

// jitter returns d scaled by a factor in [0.5, 1.5).
func jitter(r *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + r.Float64()))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("2006-01-02T15:04:05.000Z ")+format+"\n", args...)
}
