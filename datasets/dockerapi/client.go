// Package dockerapi is the small part of the Docker Engine API the scenario
// runner needs, spoken over the Engine's Unix socket with net/http. It uses
// the API rather than the docker CLI because the runner needs what the CLI
// does not print: the host PID of every exec'd process.
package dockerapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// APIVersion is the oldest Engine API with everything used here (Docker 20.10).
const APIVersion = "v1.41"

// Client talks to one Docker Engine.
type Client struct {
	http *http.Client
	sock string
}

// New connects to the Engine at DOCKER_HOST (unix:// only) or the default
// socket.
func New() (*Client, error) {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			return nil, fmt.Errorf("DOCKER_HOST %q: only unix:// sockets are supported", h)
		}
		sock = strings.TrimPrefix(h, "unix://")
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &Client{http: &http.Client{Transport: tr}, sock: sock}, nil
}

// Error is a non-2xx answer from the Engine.
type Error struct {
	Status  int
	Op      string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("docker %s: %d %s", e.Op, e.Status, e.Message) }

// IsNotFound reports whether err is the Engine saying 404.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader, ctype string) (*http.Response, error) {
	u := "http://docker/" + APIVersion + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("docker %s %s (socket %s): %w", method, path, c.sock, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, &Error{Status: resp.StatusCode, Op: method + " " + path, Message: m.Message}
	}
	return resp, nil
}

func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	ctype := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	resp, err := c.do(ctx, method, path, q, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// Ping checks that the Engine answers.
func (c *Client) Ping(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, "/_ping", nil, nil, nil)
}

// ImageExists reports whether ref is in the local image store.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	err := c.call(ctx, http.MethodGet, "/images/"+ref+"/json", nil, nil, nil)
	if IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Build builds an image from a tar build context. The build output stream is
// written to log; a build error in the stream is returned.
func (c *Client) Build(ctx context.Context, tag string, labels map[string]string, contextTar io.Reader, log io.Writer) error {
	q := url.Values{"t": {tag}, "rm": {"1"}, "forcerm": {"1"}, "networkmode": {"none"}}
	if len(labels) > 0 {
		b, _ := json.Marshal(labels)
		q.Set("labels", string(b))
	}
	resp, err := c.do(ctx, http.MethodPost, "/build", q, contextTar, "application/x-tar")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Stream string
			Error  string
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading build output: %w", err)
		}
		if m.Error != "" {
			return fmt.Errorf("building %s: %s", tag, m.Error)
		}
		if log != nil && m.Stream != "" {
			io.WriteString(log, m.Stream)
		}
	}
}

// RemoveImage deletes an image.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	return c.call(ctx, http.MethodDelete, "/images/"+ref, url.Values{"force": {"1"}}, nil, nil)
}

// HealthConfig is a container health check.
type HealthConfig struct {
	Test     []string      `json:"Test,omitempty"`
	Interval time.Duration `json:"Interval,omitempty"`
	Timeout  time.Duration `json:"Timeout,omitempty"`
	Retries  int           `json:"Retries,omitempty"`
}

// HostConfig is the part of the Engine's HostConfig the runner sets.
type HostConfig struct {
	NetworkMode string   `json:"NetworkMode,omitempty"`
	DNS         []string `json:"Dns,omitempty"`
	CapAdd      []string `json:"CapAdd,omitempty"`
	CapDrop     []string `json:"CapDrop,omitempty"`
	Init        *bool    `json:"Init,omitempty"`
	PidsLimit   *int64   `json:"PidsLimit,omitempty"`
	Memory      int64    `json:"Memory,omitempty"`
	SecurityOpt []string `json:"SecurityOpt,omitempty"`
}

// ContainerConfig is the body of a container create.
type ContainerConfig struct {
	Image       string            `json:"Image"`
	Cmd         []string          `json:"Cmd,omitempty"`
	Entrypoint  []string          `json:"Entrypoint,omitempty"`
	Env         []string          `json:"Env,omitempty"`
	User        string            `json:"User,omitempty"`
	WorkingDir  string            `json:"WorkingDir,omitempty"`
	Labels      map[string]string `json:"Labels,omitempty"`
	Hostname    string            `json:"Hostname,omitempty"`
	Healthcheck *HealthConfig     `json:"Healthcheck,omitempty"`
	StopTimeout *int              `json:"StopTimeout,omitempty"`
	HostConfig  HostConfig        `json:"HostConfig"`
}

// CreateContainer creates (does not start) a container and returns its id.
func (c *Client) CreateContainer(ctx context.Context, name string, cfg *ContainerConfig) (string, error) {
	var out struct{ Id string }
	err := c.call(ctx, http.MethodPost, "/containers/create", url.Values{"name": {name}}, cfg, &out)
	return out.Id, err
}

// CopyTo unpacks a tar stream into the container's filesystem at dir.
func (c *Client) CopyTo(ctx context.Context, id, dir string, tarball io.Reader) error {
	resp, err := c.do(ctx, http.MethodPut, "/containers/"+id+"/archive", url.Values{"path": {dir}}, tarball, "application/x-tar")
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// StartContainer starts a created container.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodPost, "/containers/"+id+"/start", nil, nil, nil)
}

// StopContainer stops a container, killing it after timeout.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	err := c.call(ctx, http.MethodPost, "/containers/"+id+"/stop", url.Values{"t": {fmt.Sprint(int(timeout.Seconds()))}}, nil, nil)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotModified {
		return nil
	}
	return err
}

// RemoveContainer force-removes a container and its anonymous volumes.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	err := c.call(ctx, http.MethodDelete, "/containers/"+id, url.Values{"force": {"1"}, "v": {"1"}}, nil, nil)
	if IsNotFound(err) {
		return nil
	}
	return err
}

// ContainerState is what inspect says about a container's process.
type ContainerState struct {
	ID    string `json:"Id"`
	Name  string
	Image string
	State struct {
		Running   bool
		Pid       int
		ExitCode  int
		StartedAt time.Time
		Health    *struct{ Status string }
	}
	Config struct {
		Image  string
		Labels map[string]string
	}
}

// InspectContainer returns a container's state.
func (c *Client) InspectContainer(ctx context.Context, id string) (*ContainerState, error) {
	var s ContainerState
	return &s, c.call(ctx, http.MethodGet, "/containers/"+id+"/json", nil, nil, &s)
}

// ListContainers lists containers (running or not) carrying label (k or k=v).
func (c *Client) ListContainers(ctx context.Context, label string) ([]ContainerState, error) {
	f, _ := json.Marshal(map[string][]string{"label": {label}})
	var out []struct {
		ID     string `json:"Id"`
		Names  []string
		Labels map[string]string
	}
	if err := c.call(ctx, http.MethodGet, "/containers/json", url.Values{"all": {"1"}, "filters": {string(f)}}, nil, &out); err != nil {
		return nil, err
	}
	res := make([]ContainerState, len(out))
	for i, o := range out {
		res[i].ID = o.ID
		if len(o.Names) > 0 {
			res[i].Name = strings.TrimPrefix(o.Names[0], "/")
		}
		res[i].Config.Labels = o.Labels
	}
	return res, nil
}

// ExecConfig is one command run inside a running container.
type ExecConfig struct {
	Cmd        []string
	User       string
	Env        []string
	WorkingDir string
}

// Exec is a started exec.
type Exec struct {
	ID       string
	Pid      int // host PID of the exec'd process
	Started  time.Time
	done     chan struct{}
	exitCode int
	exitPid  int
	output   bytes.Buffer
	err      error
	c        *Client
}

// StartExec runs cmd in the container and returns once the process has a
// host PID. Output (stdout and stderr, the last 64 KiB) is kept for Wait.
func (c *Client) StartExec(ctx context.Context, container string, cfg ExecConfig) (*Exec, error) {
	body := map[string]any{"Cmd": cfg.Cmd, "User": cfg.User, "Env": cfg.Env, "WorkingDir": cfg.WorkingDir,
		"AttachStdout": true, "AttachStderr": true}
	var created struct{ Id string }
	if err := c.call(ctx, http.MethodPost, "/containers/"+container+"/exec", nil, body, &created); err != nil {
		return nil, err
	}
	e := &Exec{ID: created.Id, done: make(chan struct{}), c: c, Started: time.Now()}
	b, _ := json.Marshal(map[string]bool{"Detach": false, "Tty": false})
	resp, err := c.do(ctx, http.MethodPost, "/exec/"+e.ID+"/start", nil, bytes.NewReader(b), "application/json")
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(e.done)
		defer resp.Body.Close()
		e.err = demux(resp.Body, &e.output)
		var ins struct {
			ExitCode int
			Pid      int
		}
		// The exec's own context may be gone (detached steps outlive it).
		ictx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.call(ictx, http.MethodGet, "/exec/"+e.ID+"/json", nil, nil, &ins); err != nil && e.err == nil {
			e.err = err
		}
		// The poll below owns e.Pid; it reads this after done is closed.
		e.exitCode, e.exitPid = ins.ExitCode, ins.Pid
	}()
	// The PID is known as soon as the process runs; poll for it (seconds
	// only on a loaded machine).
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var ins struct {
			Pid     int
			Running bool
		}
		if err := c.call(ctx, http.MethodGet, "/exec/"+e.ID+"/json", nil, nil, &ins); err != nil {
			return e, err
		}
		if ins.Pid != 0 {
			e.Pid = ins.Pid
			return e, nil
		}
		select {
		case <-e.done:
			// Exited before a poll saw it run: the final inspect has it.
			e.Pid = e.exitPid
			return e, nil
		case <-ctx.Done():
			return e, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return e, fmt.Errorf("exec %.12s: no PID after 10s", e.ID)
}

// Wait blocks until the exec'd process exits and returns its exit code and
// output.
func (e *Exec) Wait(ctx context.Context) (int, string, error) {
	select {
	case <-e.done:
		return e.exitCode, tail(e.output.String(), 64<<10), e.err
	case <-ctx.Done():
		return -1, tail(e.output.String(), 64<<10), ctx.Err()
	}
}

// Done is closed when the process has exited.
func (e *Exec) Done() <-chan struct{} { return e.done }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// demux splits Docker's multiplexed stdout/stderr stream into w.
func demux(r io.Reader, w *bytes.Buffer) error {
	br := bufio.NewReader(r)
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("reading exec output: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[4:])
		if w.Len() > 1<<20 {
			// Keep memory bounded for chatty processes; Wait reports the tail.
			b := w.Bytes()[w.Len()-(64<<10):]
			nb := append([]byte(nil), b...)
			w.Reset()
			w.Write(nb)
		}
		if _, err := io.CopyN(w, br, int64(n)); err != nil {
			return fmt.Errorf("reading exec output: %w", err)
		}
	}
}

// Signal sends a signal (e.g. "SIGUSR1") to a container's first process.
func (c *Client) Signal(ctx context.Context, id, signal string) error {
	return c.call(ctx, http.MethodPost, "/containers/"+id+"/kill", url.Values{"signal": {signal}}, nil, nil)
}

// ListImages returns the references (repo:tag, or id) of images carrying
// label (k or k=v).
func (c *Client) ListImages(ctx context.Context, label string) ([]string, error) {
	f, _ := json.Marshal(map[string][]string{"label": {label}})
	var out []struct {
		ID       string `json:"Id"`
		RepoTags []string
	}
	if err := c.call(ctx, http.MethodGet, "/images/json", url.Values{"filters": {string(f)}}, nil, &out); err != nil {
		return nil, err
	}
	var refs []string
	for _, o := range out {
		if len(o.RepoTags) > 0 && o.RepoTags[0] != "<none>:<none>" {
			refs = append(refs, o.RepoTags...)
		} else {
			refs = append(refs, o.ID)
		}
	}
	return refs, nil
}
