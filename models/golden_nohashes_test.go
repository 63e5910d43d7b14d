//go:build !amd64 || amd64.v3

package models_test

var goldenBundles map[string]string
