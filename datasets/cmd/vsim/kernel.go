package main

import (
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func init() {
	register("kmod", "load a kernel module with finit_module, then init_module (refused without CAP_SYS_MODULE)", runKmod)
	register("mountfs", "mount(2) directly, as an escape tool would (refused without CAP_SYS_ADMIN)", runMountfs)
}

func runKmod(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: kmod FILE.ko")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	ferr := unix.FinitModule(int(f.Fd()), "", 0)
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	ierr := unix.InitModule(data, "")
	if ferr == nil || ierr == nil {
		return nil
	}
	return fmt.Errorf("finit_module: %v; init_module: %v", ferr, ierr)
}

func runMountfs(args []string) error {
	fs := flag.NewFlagSet("mountfs", flag.ExitOnError)
	fstype := fs.String("t", "", "file system type")
	data := fs.String("o", "", "mount data")
	bind := fs.Bool("bind", false, "bind mount")
	fs.Parse(args)
	if fs.NArg() != 2 {
		return fmt.Errorf("usage: mountfs [-t TYPE] [-o DATA] [-bind] SOURCE TARGET")
	}
	var flags uintptr
	if *bind {
		flags |= unix.MS_BIND
	}
	os.MkdirAll(fs.Arg(1), 0o755)
	if err := unix.Mount(fs.Arg(0), fs.Arg(1), *fstype, flags, *data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fs.Arg(0), fs.Arg(1), err)
	}
	return nil
}
