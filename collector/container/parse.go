package container

import (
	"strings"
)

// Runtimes as they appear in trace.Event.Runtime.
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
)

// Launch types as ECS names them.
const (
	LaunchEC2     = "EC2"
	LaunchFargate = "FARGATE"
)

// Identity is what a cgroup path alone says about its processes.
type Identity struct {
	ContainerID string
	Runtime     string
	// TaskID is the ECS task id (32 hex digits, or a UUID for old tasks) when
	// the path is an ECS task's; empty otherwise.
	TaskID string
	// Cluster is set only by the /ecs/<cluster>/<task>/<id> layout.
	Cluster string
	// Fargate is true for Fargate container ids (<task>-<number>).
	Fargate bool
}

// ParsePath reads a container identity out of a cgroup path as it appears in
// /proc/<pid>/cgroup or under a cgroupfs mount (the mount prefix is ignored).
// ok is false for paths that belong to no container (host services, the root,
// user sessions). It never allocates for such paths beyond splitting.
//
// Layouts understood:
//
//	/docker/<id>                                  Docker, cgroupfs driver (v1 and v2)
//	/system.slice/docker-<id>.scope               Docker, systemd driver
//	/ecs/<task>/<id>                              ECS on EC2, cgroup v1 (Amazon Linux 2)
//	/ecs/<cluster>/<task>/<id>                    same, agents that add the cluster
//	/ecs/<task>/<task>-<n>                        Fargate
//	/ecstasks.slice/ecstasks-<task>.slice/...     ECS on EC2, cgroup v2 (Amazon Linux 2023)
//	.../cri-containerd-<id>.scope, /kubepods/...  containerd (Kubernetes)
//	.../crio-<id>.scope                           CRI-O
//	/machine.slice/libpod-<id>.scope              Podman
func ParsePath(path string) (id Identity, ok bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// Walk from the leaf up: the container is the innermost cgroup that names
	// one, so a process in a sub-cgroup a container made for itself (systemd
	// inside a container, nested runtimes) still maps to its container.
	for i := len(parts) - 1; i >= 0; i-- {
		cid, runtime := containerComponent(parts[i])
		if cid == "" {
			continue
		}
		id = Identity{ContainerID: cid, Runtime: runtime}
		parent := parts[:i]
		if isFargateID(cid) {
			id.Fargate = true
			id.Runtime = RuntimeContainerd
			id.TaskID = cid[:32]
		}
		if task, cluster, ecs := ecsTask(parent); ecs {
			id.TaskID, id.Cluster = task, cluster
			if id.Runtime == "" {
				id.Runtime = RuntimeDocker
			}
		}
		if id.Runtime == "" {
			id.Runtime = runtimeFromAncestors(parent)
		}
		return id, true
	}
	return Identity{}, false
}

// containerComponent recognises one path component that names a container and
// returns the id and, when the component says so, the runtime.
func containerComponent(c string) (id, runtime string) {
	if strings.HasSuffix(c, ".scope") {
		name := strings.TrimSuffix(c, ".scope")
		for _, p := range scopePrefixes {
			if rest, found := strings.CutPrefix(name, p.prefix); found && isHex(rest, 64) {
				return rest, p.runtime
			}
		}
		return "", ""
	}
	if isHex(c, 64) || isFargateID(c) {
		return c, ""
	}
	return "", ""
}

var scopePrefixes = []struct{ prefix, runtime string }{
	{"docker-", RuntimeDocker},
	{"cri-containerd-", RuntimeContainerd},
	{"crio-", RuntimeCRIO},
	{"libpod-", RuntimePodman},
}

// ecsTask finds the ECS task in the components above a container.
func ecsTask(parent []string) (task, cluster string, ok bool) {
	for i := len(parent) - 1; i >= 0; i-- {
		c := parent[i]
		if rest, found := strings.CutPrefix(c, "ecstasks-"); found {
			rest = strings.TrimSuffix(rest, ".slice")
			// systemd escapes '-' in slice names as \x2d; task ids in the
			// UUID form would carry them.
			rest = strings.ReplaceAll(rest, `\x2d`, "-")
			if isTaskID(rest) {
				return rest, "", true
			}
		}
		if c == "ecs" && i+1 < len(parent) {
			switch rest := parent[i+1:]; {
			case len(rest) == 1 && isTaskID(rest[0]):
				return rest[0], "", true
			case len(rest) == 2 && isTaskID(rest[1]):
				return rest[1], rest[0], true
			}
		}
	}
	return "", "", false
}

func runtimeFromAncestors(parent []string) string {
	for _, c := range parent {
		switch {
		case c == "docker" || c == "docker.service":
			return RuntimeDocker
		case strings.HasPrefix(c, "kubepods") || c == "containerd.service":
			return RuntimeContainerd
		case c == "crio.service":
			return RuntimeCRIO
		case c == "machine.slice":
			return RuntimePodman
		case c == "ecs" || c == "ecstasks.slice":
			return RuntimeDocker
		}
	}
	// A bare 64-hex leaf under an unknown parent: containerd's own default
	// namespace layout (/<namespace>/<id>) is the common case.
	return RuntimeContainerd
}

// isTaskID accepts ECS task ids: 32 hex digits, or the older UUID form.
func isTaskID(s string) bool {
	if isHex(s, 32) {
		return true
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexDigit(s[i]) {
				return false
			}
		}
	}
	return true
}

// isFargateID matches Fargate's container ids: <32 hex task id>-<digits>.
func isFargateID(s string) bool {
	if len(s) < 34 || !isHex(s[:32], 32) || s[32] != '-' {
		return false
	}
	for i := 33; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
}
