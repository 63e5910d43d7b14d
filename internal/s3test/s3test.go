// Package s3test starts S3 servers on loopback for tests: gofakes3 inside the
// test process, and moto_server as a real separate server process.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Credentials sets static test credentials and turns off the EC2 metadata
// lookup, so no test ever reaches for a real credential source.
func Credentials(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", "vigiltest")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "vigiltest")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		t.Setenv(v, "") // restores the old value after the test
		os.Unsetenv(v)
	}
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// Server is a running S3 endpoint with one bucket.
type Server struct {
	Endpoint string
	Bucket   string
	stop     func()
}

// Root is an s3:// lake root on this server under prefix.
func (s *Server) Root(prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s", s.Bucket, strings.Trim(prefix, "/"), s.Endpoint)
}

// Stop shuts the server down; the test can then check behaviour while S3 is
// unreachable.
func (s *Server) Stop() { s.stop() }

// InProcess serves S3 from memory inside the test process.
func InProcess(t testing.TB) *Server {
	t.Helper()
	Credentials(t)
	faker := gofakes3.New(s3mem.New())
	ts := httptest.NewServer(faker.Server())
	s := &Server{Endpoint: ts.URL, Bucket: "vigil-test", stop: ts.Close}
	t.Cleanup(ts.Close)
	createBucket(t, s)
	return s
}

// Moto starts moto_server, a real S3-compatible server process, on a free
// loopback port. Without it the test skips, unless VIGIL_REQUIRE_S3 is set.
func Moto(t testing.TB) *Server {
	t.Helper()
	Credentials(t)
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("VIGIL_REQUIRE_S3") != "" || os.Getenv("CI") != "" {
			t.Fatalf("moto_server not found: %v", err)
		}
		t.Skip("moto_server not installed")
	}
	port := FreePort(t)
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	logPath := filepath.Join(t.TempDir(), "moto.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting moto_server: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("moto_server log:\n%s", tail(b, 4000))
			}
		}
	})
	stop := func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
			cmd.Process = nil
		}
	}
	t.Cleanup(stop)
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not come up on %s: %v", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s := &Server{Endpoint: endpoint, Bucket: "vigil-test", stop: stop}
	createBucket(t, s)
	return s
}

// FreePort returns a loopback TCP port nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Client is a raw S3 client for the server, for tests that tamper with
// objects behind the lake's back.
func (s *Server) Client(t testing.TB) *s3.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
	})
}

func createBucket(t testing.TB, s *Server) {
	t.Helper()
	_, err := s.Client(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)})
	if err != nil {
		t.Fatalf("creating bucket on %s: %v", s.Endpoint, err)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
