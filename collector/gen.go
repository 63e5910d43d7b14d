package collector

// The BPF objects are generated and committed so that `go build` needs no
// clang; `make generate` rebuilds them from collector/bpf.
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -type event -type vigil_config -type cgroup_key vigil bpf/vigil.bpf.c -- -I./bpf
