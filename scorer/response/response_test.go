package response

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/vigilsec/vigil/internal/s3test"
	"github.com/vigilsec/vigil/scorer/finding"
	"github.com/vigilsec/vigil/scorer/output"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func sleeper(t *testing.T) (*exec.Cmd, string) {
	bin, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	exe, err := os.Readlink("/proc/" + itoa(cmd.Process.Pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	return cmd, exe
}

func itoa(i int) string { return strconv.Itoa(i) }

func procFinding(pid int, exe string) *finding.Finding {
	return &finding.Finding{
		ID: "f1", Type: "Execution:Runtime/ReverseShell", Severity: 8,
		Resource: finding.Resource{ContainerDetails: &finding.ContainerDetails{ID: "c1"}},
		Service: finding.Service{
			RuntimeDetails: finding.RuntimeDetails{Process: &finding.Process{Pid: int32(pid), ExecutablePath: exe}},
			Detection:      finding.Detection{RuleID: "reverse_shell_connect"},
		},
	}
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

func TestKillIsOptInAndDryRunByDefault(t *testing.T) {
	cmd, exe := sleeper(t)
	pid := cmd.Process.Pid
	pol := []Policy{{Name: "shells", Types: []string{"Execution:Runtime/ReverseShell"}, Actions: []Action{Kill}}}
	// Default: dry run.
	r, err := New(Config{Policies: pol}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r.Write(context.Background(), []output.Record{{Finding: procFinding(pid, exe)}})
	if !alive(pid) || len(r.Taken()) != 1 || !r.Taken()[0].DryRun || r.Taken()[0].Error != "" {
		t.Fatalf("dry run: alive=%v taken=%+v", alive(pid), r.Taken())
	}
	// A policy that does not match does nothing.
	off := false
	r, _ = New(Config{DryRun: &off, Policies: []Policy{{Name: "crit", MinSeverity: 9, Actions: []Action{Kill}}}}, nil, quiet)
	r.Write(context.Background(), []output.Record{{Finding: procFinding(pid, exe)}})
	if !alive(pid) || len(r.Taken()) != 0 {
		t.Fatal("non-matching policy acted")
	}
	// A reused pid (another executable) is not killed.
	r, _ = New(Config{DryRun: &off, Policies: pol}, nil, quiet)
	r.Write(context.Background(), []output.Record{{Finding: procFinding(pid, "/usr/bin/other")}})
	if !alive(pid) || r.Taken()[0].Error == "" {
		t.Fatalf("killed a process running another executable: %+v", r.Taken())
	}
	// Armed and matching: killed.
	r.Write(context.Background(), []output.Record{{Finding: procFinding(pid, exe)}})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("process ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("process not killed")
	}
}

func TestWebhookAction(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Action  string
			Finding finding.Finding
		}
		if json.NewDecoder(r.Body).Decode(&body) == nil && body.Finding.ID == "f1" {
			got.Add(1)
		}
	}))
	defer srv.Close()
	off := false
	r, err := New(Config{DryRun: &off, Policies: []Policy{{Name: "page", Rules: []string{"reverse_*"}, Actions: []Action{Webhook}, WebhookURL: srv.URL}}}, nil, quiet)
	if err != nil {
		t.Fatal(err)
	}
	r.Write(context.Background(), []output.Record{{Finding: procFinding(0, "")}, {Finding: procFinding(0, ""), Update: true}})
	if got.Load() != 1 {
		t.Fatalf("webhook called %d times, want 1 (updates do not respond)", got.Load())
	}
}

func TestStopTaskAgainstMoto(t *testing.T) {
	moto := s3test.Moto(t)
	ctx := context.Background()
	cfg, err := output.AWSConfig(ctx, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(motoECSFix(t, moto.Endpoint)) })
	if _, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	td, err := client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String("web:1"), Memory: aws.Int32(128)}}})
	if err != nil {
		t.Fatal(err)
	}
	run, err := client.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeFargate})
	if err != nil || len(run.Tasks) != 1 {
		t.Fatalf("run task: %v", err)
	}
	taskArn := aws.ToString(run.Tasks[0].TaskArn)
	f := procFinding(0, "")
	f.Resource.EcsClusterDetails = &finding.EcsClusterDetails{Name: "prod", TaskDetails: &finding.TaskDetails{Arn: taskArn}}
	pol := []Policy{{Name: "miners", Types: []string{"Execution:*"}, Actions: []Action{StopTask}}}

	dry, _ := New(Config{Policies: pol}, client, quiet)
	dry.Write(ctx, []output.Record{{Finding: f}})
	status := func() (string, string) {
		out, err := client.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{taskArn}})
		if err != nil || len(out.Tasks) != 1 {
			t.Fatalf("describe: %v", err)
		}
		return aws.ToString(out.Tasks[0].LastStatus), aws.ToString(out.Tasks[0].StoppedReason)
	}
	if s, _ := status(); s == "STOPPED" {
		t.Fatal("dry run stopped the task")
	}
	off := false
	armed, _ := New(Config{DryRun: &off, Policies: pol}, client, quiet)
	armed.Write(ctx, []output.Record{{Finding: f}})
	if s, reason := status(); s != "STOPPED" || !strings.Contains(reason, "Vigil Execution:Runtime/ReverseShell") {
		t.Fatalf("task %s (%q), taken %+v", s, reason, armed.Taken())
	}
}

// motoECSFix proxies moto_server and fixes one incompatibility of moto 5.2
// with the SDK: moto writes a task's containers[].cpu and memory as numbers where ECS
// (and the SDK) use a string, which fails RunTask/DescribeTasks/StopTask
// response decoding. Nothing else is changed.
func motoECSFix(t *testing.T, upstream string) string {
	u, _ := url.Parse(upstream)
	proxy := httputil.NewSingleHostReverseProxy(u)
	cpu := regexp.MustCompile(`"(cpu|memory)": ?(\d+)`)
	proxy.ModifyResponse = func(r *http.Response) error {
		switch r.Request.Header.Get("X-Amz-Target") {
		case "AmazonEC2ContainerServiceV20141113.RunTask", "AmazonEC2ContainerServiceV20141113.DescribeTasks",
			"AmazonEC2ContainerServiceV20141113.StopTask":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return err
			}
			b = cpu.ReplaceAll(b, []byte(`"$1": "$2"`))
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.ContentLength = int64(len(b))
			r.Header.Set("Content-Length", strconv.Itoa(len(b)))
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPolicyValidation(t *testing.T) {
	for _, c := range []Config{
		{Policies: []Policy{{Name: "all", Actions: []Action{Kill}}}},
		{Policies: []Policy{{Name: "x", MinSeverity: 5, Actions: []Action{"nuke"}}}},
		{Policies: []Policy{{Name: "x", MinSeverity: 5, Actions: []Action{Webhook}}}},
	} {
		if _, err := New(c, nil, quiet); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}
