package intel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/s3test"
)

const sample = `# C&C infrastructure, written by the test
203.0.113.9
198.51.100.0/24   # a whole range
2001:db8:bad::/48
evil.example.
CC.Example
0f343b0931126a20f133d67c2b018a3b1d6a57b4a0b4a4a3e7e1e2e3e4e5e6e7
not an indicator!
`

func TestListsMatchIPsCIDRsDomainsAndHashes(t *testing.T) {
	s := NewSet(nil)
	bad := s.Parse([]byte(sample), "c2")
	if len(bad) != 1 || bad[0] != 8 {
		t.Errorf("bad lines %v, want [8]", bad)
	}
	for _, c := range []struct{ got, want string }{
		{s.IP("203.0.113.9"), "c2"}, {s.IP("203.0.113.10"), ""},
		{s.IP("198.51.100.77"), "c2"}, {s.IP("::ffff:198.51.100.1"), "c2"}, {s.IP("198.51.101.1"), ""},
		{s.IP("2001:db8:bad:1::5"), "c2"}, {s.IP("2001:db8:bae::1"), ""}, {s.IP("garbage"), ""},
		{s.Domain("evil.example"), "c2"}, {s.Domain("a.b.EVIL.example."), "c2"}, {s.Domain("notevil.example"), ""},
		{s.Domain("cc.example"), "c2"}, {s.Domain("example"), ""},
		{s.Hash("0F343B0931126A20F133D67C2B018A3B1D6A57B4A0B4A4A3E7E1E2E3E4E5E6E7"), "c2"}, {s.Hash(strings.Repeat("a", 64)), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q want %q", c.got, c.want)
		}
	}
}

func TestHolderReloadsLocalAndKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c2.txt")
	if err := os.WriteFile(p, []byte("203.0.113.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := NewHolder([]List{{URL: p, Category: "c2"}}, nil)
	if _, err := h.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.IP("203.0.113.9") != "c2" {
		t.Fatal("list not loaded")
	}
	os.WriteFile(p, []byte("203.0.113.10\n"), 0o644)
	h.Reload(context.Background())
	if h.IP("203.0.113.9") != "" || h.IP("203.0.113.10") != "c2" {
		t.Fatal("reload did not replace the list")
	}
	os.Remove(p)
	if _, err := h.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("missing list: err %v, want one naming %s", err, p)
	}
	if h.IP("203.0.113.10") != "c2" {
		t.Fatal("failed reload dropped the last good lists")
	}
}

func TestHolderReadsS3(t *testing.T) {
	srv := s3test.InProcess(t)
	ctx := context.Background()
	st, err := blob.Open(ctx, srv.Root("intel"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "mining.txt", []byte("pool.example\n")); err != nil {
		t.Fatal(err)
	}
	root := srv.Root("intel")
	u := root[:strings.Index(root, "?")] + "/mining.txt" + root[strings.Index(root, "?"):]
	if !strings.Contains(root, "?") {
		u = root + "/mining.txt"
	}
	h := NewHolder([]List{{URL: u, Category: "mining"}}, nil)
	if _, err := h.Reload(ctx); err != nil {
		t.Fatalf("%s: %v", u, err)
	}
	if h.Domain("eu.pool.example") != "mining" {
		t.Fatal("S3 list not loaded")
	}
}
