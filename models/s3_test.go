package models_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vigilsec/vigil/internal/blob"
	"github.com/vigilsec/vigil/internal/s3test"
	"github.com/vigilsec/vigil/models"
)

// TestBundleOnS3: a bundle written to S3 loads back verified, and an object
// damaged behind the bundle's back is rejected by name.
func TestBundleOnS3(t *testing.T) {
	s3test.Credentials(t)
	srv := s3test.InProcess(t)
	ctx := context.Background()
	root := srv.Root("models/prod")
	st, err := blob.Open(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := trainSynth(t, 30)
	if _, err := models.Write(ctx, st, ms, 0, 1); err != nil {
		t.Fatal(err)
	}
	b, err := models.Load(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if got := b.Workload(m.Workload); got == nil || !reflect.DeepEqual(got.Calibration, m.Calibration) {
			t.Fatalf("%s did not round-trip through S3", m.Workload)
		}
	}
	key := "models/prod/" + models.ModelFile(ms[0].Workload)
	if _, err := srv.Client(t).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: strings.NewReader("{}\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := models.Load(ctx, root); err == nil || !strings.Contains(err.Error(), models.ModelFile(ms[0].Workload)) {
		t.Fatalf("damaged S3 object: %v", err)
	}
}
