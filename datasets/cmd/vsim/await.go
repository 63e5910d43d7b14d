package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func init() {
	register("await", "wait until a file exists, then exec the command (container start gate)", runAwait)
}

// runAwait holds a container's first process until the runner knows the
// container's cgroups are attributed, so the workload's first events carry
// its container and task like every later one. The runner drops the file in
// through the Engine's archive API: no process runs in the container for it,
// and unlike a signal it cannot arrive before anyone listens. Bounded: after
// -timeout the command starts anyway.
func runAwait(args []string) error {
	fs := flag.NewFlagSet("await", flag.ExitOnError)
	file := fs.String("file", "/.vigil-start", "start once this file exists")
	timeout := fs.Duration("timeout", 30*time.Second, "start anyway after this long")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		return fmt.Errorf("usage: await [-file F] [-timeout D] -- command...")
	}
	deadline := time.Now().Add(*timeout)
	for {
		if _, err := os.Stat(*file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			logf("await: %s did not appear within %v, starting anyway", *file, *timeout)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}
