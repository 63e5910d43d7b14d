package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/s3test"
)

// The same contract holds for every kind of store.
func testContract(t *testing.T, s blob.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Put(ctx, "a/b/one.txt", []byte("one")))
	must(s.Put(ctx, "a/c/two.txt", []byte("two")))
	must(s.Put(ctx, "z.txt", []byte("zed")))

	got, err := s.Get(ctx, "a/b/one.txt")
	must(err)
	if string(got) != "one" {
		t.Fatalf("Get = %q", got)
	}
	objs, err := s.List(ctx, "a/")
	must(err)
	if len(objs) != 2 || objs[0].Key != "a/b/one.txt" || objs[1].Key != "a/c/two.txt" || objs[0].Size != 3 {
		t.Fatalf("List(a/) = %+v", objs)
	}
	all, err := s.List(ctx, "")
	must(err)
	if len(all) != 3 {
		t.Fatalf("List() = %+v", all)
	}

	big := bytes.Repeat([]byte("0123456789abcdef"), (blob.PartSize/16)+1000) // just over one part
	path := filepath.Join(t.TempDir(), "big")
	must(os.WriteFile(path, big, 0o644))
	must(s.PutFile(ctx, "big/file.bin", path))
	f, err := s.Open(ctx, "big/file.bin")
	must(err)
	if f.Size() != int64(len(big)) {
		t.Fatalf("Size = %d, want %d", f.Size(), len(big))
	}
	buf := make([]byte, 16)
	_, err = f.ReadAt(buf, int64(len(big)-16))
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if string(buf) != "0123456789abcdef" {
		t.Fatalf("ReadAt tail = %q", buf)
	}
	must(f.Close())

	if _, err := s.Get(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Get(missing) err = %v, want ErrNotFound", err)
	}
	must(s.Delete(ctx, "z.txt"))
	if _, err := s.Get(ctx, "z.txt"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("after Delete err = %v", err)
	}
	if err := s.Put(ctx, "../escape", nil); err == nil {
		t.Fatal("Put(../escape) accepted")
	}
}

func TestDir(t *testing.T) {
	s, err := blob.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testContract(t, s)
}

func TestS3InProcess(t *testing.T) {
	srv := s3test.InProcess(t)
	s, err := blob.Open(context.Background(), srv.Root("lake"))
	if err != nil {
		t.Fatal(err)
	}
	testContract(t, s)
}

func TestS3Moto(t *testing.T) {
	srv := s3test.Moto(t)
	s, err := blob.Open(context.Background(), srv.Root("lake/prefix"))
	if err != nil {
		t.Fatal(err)
	}
	testContract(t, s)
}

func TestS3Unreachable(t *testing.T) {
	s3test.Credentials(t)
	port := s3test.FreePort(t)
	s, err := blob.Open(context.Background(), "s3://bucket/p?endpoint=http://127.0.0.1:"+itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.List(context.Background(), "")
	if err == nil {
		t.Fatal("List against a closed port succeeded")
	}
	if !bytes.Contains([]byte(err.Error()), []byte("s3://bucket/p")) {
		t.Fatalf("error does not name the location: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
