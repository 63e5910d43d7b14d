package scorer

import (
	"context"
	"testing"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/models"
)

func writeBundle(tb testing.TB, dir string, ms []*models.Model) {
	st, err := blob.Open(context.Background(), dir)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := models.Write(context.Background(), st, ms, 0, 1); err != nil {
		tb.Fatal(err)
	}
}
