package lake_test

import "github.com/apache/arrow-go/v18/arrow"

type arrowRecord = arrow.RecordBatch
