package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 is a Store on a bucket and key prefix.
type S3 struct {
	url      string
	bucket   string
	prefix   string
	client   *s3.Client
	uploader *manager.Uploader
}

// PartSize is the multipart chunk for PutFile; files larger than it go up in
// parts, so a 128 MiB trace file never needs one 128 MiB request to succeed.
const PartSize = 16 << 20

func openS3(ctx context.Context, root string) (*S3, error) {
	u, err := url.Parse(root)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", root, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("root %q: missing bucket", root)
	}
	q := u.Query()
	var opts []func(*config.LoadOptions) error
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration for %s: %w", root, err)
	}
	if cfg.Region == "" {
		// S3 needs a region to sign; S3-compatible servers accept any.
		cfg.Region = "us-east-1"
	}
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = os.Getenv("VIGIL_S3_ENDPOINT")
	}
	pathStyle := endpoint != ""
	if v := firstNonEmpty(q.Get("path_style"), os.Getenv("VIGIL_S3_PATH_STYLE")); v != "" {
		if pathStyle, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("root %q: path_style: %w", root, err)
		}
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		// S3-compatible servers often return no checksum; that is not news.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	clean := url.URL{Scheme: "s3", Host: u.Host, Path: u.Path}
	return &S3{
		url:    clean.String(),
		bucket: u.Host,
		prefix: strings.Trim(u.Path, "/"),
		client: client,
		uploader: manager.NewUploader(client, func(up *manager.Uploader) {
			up.PartSize = PartSize
		}),
	}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *S3) URL() string { return s.url }

func (s *S3) full(key string) string { return Join(s.prefix, key) }

func (s *S3) where(key string) string { return "s3://" + s.bucket + "/" + s.full(key) }

func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	full := s.full(prefix)
	if strings.HasSuffix(prefix, "/") {
		full += "/"
	}
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &full})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", s.bucket, full, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			key = strings.TrimPrefix(key, "/")
			obj := Object{Key: key, Size: aws.ToInt64(o.Size)}
			if o.LastModified != nil {
				obj.Modified = *o.LastModified
			}
			out = append(out, obj)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.full(key))})
	if err != nil {
		return nil, s.wrap("getting", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.where(key), err)
	}
	return b, nil
}

func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.full(key)), Body: strings.NewReader(string(data)),
	})
	return s.wrap("putting", key, err)
}

func (s *S3) PutFile(ctx context.Context, key, path string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = s.uploader.Upload(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(s.full(key)), Body: f})
	return s.wrap("uploading", key, err)
}

// Open returns the object for random access. Reads near the end (a Parquet
// footer) are served by one ranged GET, so listing file metadata costs little;
// the first read elsewhere downloads the whole object to an unlinked temporary
// file, because Parquet readers seek all over a file and a ranged GET per page
// would be slow and costly, while memory stays bounded.
func (s *S3) Open(ctx context.Context, key string) (File, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	head, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.full(key))})
	if err != nil {
		return nil, s.wrap("opening", key, err)
	}
	return &s3File{ctx: ctx, s: s, key: key, size: aws.ToInt64(head.ContentLength)}, nil
}

// tailSize covers the footer of any trace file the writer produces.
const tailSize = 1 << 20

type s3File struct {
	ctx     context.Context
	s       *S3
	key     string
	size    int64
	tail    []byte
	tailOff int64
	full    *os.File
}

func (f *s3File) Size() int64 { return f.size }

func (f *s3File) ReadAt(p []byte, off int64) (int, error) {
	if f.full == nil && off >= f.size-tailSize {
		if f.tail == nil {
			if err := f.fetchTail(); err != nil {
				return 0, err
			}
		}
		if off >= f.tailOff {
			if off >= f.size {
				return 0, io.EOF
			}
			n := copy(p, f.tail[off-f.tailOff:])
			if n < len(p) {
				return n, io.EOF
			}
			return n, nil
		}
	}
	if f.full == nil {
		if err := f.download(); err != nil {
			return 0, err
		}
	}
	return f.full.ReadAt(p, off)
}

func (f *s3File) fetchTail() error {
	f.tailOff = max(0, f.size-tailSize)
	if f.size == 0 {
		f.tail = []byte{}
		return nil
	}
	rng := fmt.Sprintf("bytes=%d-%d", f.tailOff, f.size-1)
	out, err := f.s.client.GetObject(f.ctx, &s3.GetObjectInput{Bucket: &f.s.bucket, Key: aws.String(f.s.full(f.key)), Range: &rng})
	if err != nil {
		return f.s.wrap("reading", f.key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", f.s.where(f.key), err)
	}
	if int64(len(b)) != f.size-f.tailOff {
		return fmt.Errorf("reading %s: got %d bytes of the last %d", f.s.where(f.key), len(b), f.size-f.tailOff)
	}
	f.tail = b
	return nil
}

func (f *s3File) download() error {
	out, err := f.s.client.GetObject(f.ctx, &s3.GetObjectInput{Bucket: &f.s.bucket, Key: aws.String(f.s.full(f.key))})
	if err != nil {
		return f.s.wrap("getting", f.key, err)
	}
	defer out.Body.Close()
	tmp, err := os.CreateTemp("", "vigil-s3-*")
	if err != nil {
		return err
	}
	os.Remove(tmp.Name()) // unlinked: the space is freed even if we crash
	if _, err := io.Copy(tmp, out.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("downloading %s: %w", f.s.where(f.key), err)
	}
	f.full = tmp
	f.tail = nil
	return nil
}

func (f *s3File) Close() error {
	if f.full != nil {
		return f.full.Close()
	}
	return nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.full(key))})
	return s.wrap("deleting", key, err)
}

func (s *S3) wrap(verb, key string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var api smithy.APIError
	if errors.As(err, &nsk) || (errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey")) {
		return fmt.Errorf("%s %s: %w", verb, s.where(key), ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", verb, s.where(key), err)
}
