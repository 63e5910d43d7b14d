package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func init() {
	register("await", "wait for SIGUSR1, then exec the command (container start gate)", runAwait)
}

// runAwait holds a container's first process until the runner knows the
// container's cgroups are attributed, so the workload's first events carry
// its container and task like every later one. It is bounded: after
// -timeout the command starts anyway.
func runAwait(args []string) error {
	fs := flag.NewFlagSet("await", flag.ExitOnError)
	timeout := fs.Duration("timeout", 30*time.Second, "start anyway after this long")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		return fmt.Errorf("usage: await [-timeout D] -- command...")
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1, syscall.SIGTERM)
	select {
	case s := <-ch:
		if s == syscall.SIGTERM {
			return nil
		}
	case <-time.After(*timeout):
		logf("await: no start signal after %v, starting anyway", *timeout)
	}
	signal.Reset()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}
