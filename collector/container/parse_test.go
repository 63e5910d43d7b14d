package container

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	const (
		cid  = "3f4e1a2b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b"
		task = "9781c2480edd4cdb9a93f63cb662a5d3"
		uuid = "9781c248-0edd-4cdb-9a93-f63cb662a5d3"
	)
	fargate := task + "-1527681463"
	tests := []struct {
		name string
		path string
		want Identity
		ok   bool
	}{
		{"docker cgroupfs v1", "/docker/" + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker}, true},
		{"docker under mount prefix", "/sys/fs/cgroup/memory/docker/" + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker}, true},
		{"docker systemd", "/system.slice/docker-" + cid + ".scope", Identity{ContainerID: cid, Runtime: RuntimeDocker}, true},
		{"docker nested sub-cgroup", "/docker/" + cid + "/init.scope", Identity{ContainerID: cid, Runtime: RuntimeDocker}, true},
		{"ecs ec2 v1", "/ecs/" + task + "/" + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker, TaskID: task}, true},
		{"ecs ec2 v1 uuid task", "/ecs/" + uuid + "/" + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker, TaskID: uuid}, true},
		{"ecs ec2 v1 with cluster", "/ecs/prod-web/" + task + "/" + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker, TaskID: task, Cluster: "prod-web"}, true},
		{"ecs v2 systemd", "/ecstasks.slice/ecstasks-" + task + ".slice/docker-" + cid + ".scope", Identity{ContainerID: cid, Runtime: RuntimeDocker, TaskID: task}, true},
		{"ecs v2 plain leaf", "/ecstasks.slice/ecstasks-" + task + ".slice/" + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker, TaskID: task}, true},
		{"ecs v2 escaped uuid", `/ecstasks.slice/ecstasks-9781c248\x2d0edd\x2d4cdb\x2d9a93\x2df63cb662a5d3.slice/` + cid, Identity{ContainerID: cid, Runtime: RuntimeDocker, TaskID: uuid}, true},
		{"fargate", "/ecs/" + task + "/" + fargate, Identity{ContainerID: fargate, Runtime: RuntimeContainerd, TaskID: task, Fargate: true}, true},
		{"fargate bare", "/" + fargate, Identity{ContainerID: fargate, Runtime: RuntimeContainerd, TaskID: task, Fargate: true}, true},
		{"containerd cri", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + cid + ".scope", Identity{ContainerID: cid, Runtime: RuntimeContainerd}, true},
		{"kubepods cgroupfs", "/kubepods/besteffort/pod0d3c7c64-5a1a-4a39-8c1f-5c2f5b3c3d1e/" + cid, Identity{ContainerID: cid, Runtime: RuntimeContainerd}, true},
		{"containerd namespace", "/default/" + cid, Identity{ContainerID: cid, Runtime: RuntimeContainerd}, true},
		{"crio", "/kubepods.slice/crio-" + cid + ".scope", Identity{ContainerID: cid, Runtime: RuntimeCRIO}, true},
		{"podman", "/machine.slice/libpod-" + cid + ".scope", Identity{ContainerID: cid, Runtime: RuntimePodman}, true},

		{"root", "/", Identity{}, false},
		{"empty", "", Identity{}, false},
		{"host service", "/system.slice/sshd.service", Identity{}, false},
		{"user session", "/user.slice/user-1000.slice/session-3.scope", Identity{}, false},
		{"32 hex is not a container", "/process_api/558a95125121cffbc74db0f3801e6c11", Identity{}, false},
		{"ecs task slice without container", "/ecstasks.slice/ecstasks-" + task + ".slice", Identity{}, false},
		{"uppercase hex rejected", "/docker/" + strings.ToUpper(cid), Identity{}, false},
		{"63 hex rejected", "/docker/" + cid[1:], Identity{}, false},
		{"scope with short id", "/system.slice/docker-abc.scope", Identity{}, false},
		{"fargate without digits", "/ecs/" + task + "/" + task + "-", Identity{}, false},
		{"fargate with letters", "/" + task + "-12a", Identity{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParsePath(tt.path)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParsePath(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	f.Add("/docker/3f4e1a2b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b")
	f.Add("/ecs/9781c2480edd4cdb9a93f63cb662a5d3/9781c2480edd4cdb9a93f63cb662a5d3-1")
	f.Add("/ecstasks.slice/ecstasks-x.slice/docker-.scope")
	f.Fuzz(func(t *testing.T, path string) {
		id, ok := ParsePath(path)
		if ok && (id.ContainerID == "" || id.Runtime == "") {
			t.Fatalf("ParsePath(%q) = %+v: container without id or runtime", path, id)
		}
		if ok && !strings.Contains(path, id.ContainerID) {
			t.Fatalf("ParsePath(%q) = %+v: id not from the path", path, id)
		}
	})
}
