package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestTwinsCurrent: the committed Callee twins are what go generate makes of
// the Caller structs now, so a column edited on one side only fails here.
func TestTwinsCurrent(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "columns.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate("columns.go", src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", "columns_callee.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("schemas/columns_callee.go is stale: run go generate ./schemas")
	}
}
