package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ECS labels the ECS agent puts on every container it starts on EC2.
const (
	LabelECSCluster       = "com.amazonaws.ecs.cluster"
	LabelECSTaskARN       = "com.amazonaws.ecs.task-arn"
	LabelECSContainerName = "com.amazonaws.ecs.container-name"
	LabelECSTaskFamily    = "com.amazonaws.ecs.task-definition-family"
	LabelECSTaskVersion   = "com.amazonaws.ecs.task-definition-version"
)

// dockerClient speaks the Docker Engine API over its unix socket. Paths are
// unversioned so any Engine since 1.12 answers in its own version; we read
// only fields every version has.
type dockerClient struct {
	hc *http.Client
}

func newDockerClient(socket string, timeout time.Duration) *dockerClient {
	d := &net.Dialer{Timeout: timeout}
	return &dockerClient{hc: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", socket)
			},
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
		},
	}}
}

type dockerContainer struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	Image string `json:"Image"` // image id, sha256:...
	State struct {
		Pid     int  `json:"Pid"`
		Running bool `json:"Running"`
	} `json:"State"`
	Config struct {
		Image  string            `json:"Image"` // as the user named it
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
}

type dockerImage struct {
	ID          string   `json:"Id"`
	RepoTags    []string `json:"RepoTags"`
	RepoDigests []string `json:"RepoDigests"`
}

// errNotFound marks a container or image the engine does not know, which is
// final, unlike a socket that is not there yet.
type errNotFound struct{ what string }

func (e errNotFound) Error() string { return e.what + ": not found" }

func (c *dockerClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("docker GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 4<<20)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, body)
		return errNotFound{what: "docker " + path}
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(body, 512))
		return fmt.Errorf("docker GET %s: %s: %s", path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("docker GET %s: decoding: %w", path, err)
	}
	return nil
}

func (c *dockerClient) container(ctx context.Context, idOrName string) (*dockerContainer, error) {
	var ct dockerContainer
	if err := c.get(ctx, "/containers/"+url.PathEscape(idOrName)+"/json", &ct); err != nil {
		return nil, err
	}
	return &ct, nil
}

func (c *dockerClient) image(ctx context.Context, id string) (*dockerImage, error) {
	var im dockerImage
	if err := c.get(ctx, "/images/"+url.PathEscape(id)+"/json", &im); err != nil {
		return nil, err
	}
	return &im, nil
}

// repoDigest picks the digest ("sha256:...") from RepoDigests, preferring the
// repository the container was started from. Images built locally and never
// pushed have none, and then the digest stays unknown rather than being
// confused with the local image id.
func repoDigest(im *dockerImage, image string) string {
	repo := imageRepo(image)
	var first string
	for _, rd := range im.RepoDigests {
		name, digest, ok := strings.Cut(rd, "@")
		if !ok {
			continue
		}
		if first == "" {
			first = digest
		}
		if name == repo {
			return digest
		}
	}
	return first
}

func imageRepo(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}
