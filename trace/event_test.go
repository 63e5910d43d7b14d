package trace

import "testing"

func TestWorkloadKey(t *testing.T) {
	cases := []struct {
		e    Event
		want string
	}{
		{Event{TaskFamily: "web", ECSContainerName: "app", Image: "nginx:1"}, "web/app"},
		{Event{TaskFamily: "web", ContainerName: "ecs-web-3-app"}, "web/ecs-web-3-app"},
		{Event{Image: "123.dkr.ecr.us-east-1.amazonaws.com/shop:4.2@sha256:abcd", ContainerID: "c"}, "123.dkr.ecr.us-east-1.amazonaws.com/shop"},
		{Event{Image: "localhost:5000/team/tool", ContainerID: "c"}, "localhost:5000/team/tool"},
		{Event{Image: "localhost:5000/team/tool:v1", ContainerID: "c"}, "localhost:5000/team/tool"},
		{Event{ContainerID: "abc"}, "container"},
		{Event{}, "host"},
	}
	for _, c := range cases {
		if got := WorkloadKey(&c.e); got != c.want {
			t.Errorf("WorkloadKey(%+v) = %q, want %q", c.e, got, c.want)
		}
	}
}

func TestKindIndex(t *testing.T) {
	for i, k := range Kinds {
		if k.Index() != i || !k.Valid() {
			t.Errorf("%s.Index() = %d, want %d", k, k.Index(), i)
		}
	}
	if Kind("nope").Valid() {
		t.Error("unknown kind is valid")
	}
}
