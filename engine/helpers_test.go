package engine

import "github.com/devorch/devorch/internal/testmodel"

func valPtr[T any](v T) *T { return &v }

var wantErr = testmodel.WantErr
