#!/bin/sh
# Adds easyjson (a decoder generated from the schemas types) to the
# benchmark without changing the project's tree or committing generated
# code:
#
#   ./easyjson.sh gen            generate _build/easyjson/ (decoders + overlay)
#   ./easyjson.sh test [flags]   gen, then go test with easyjson [flags]
#   ./easyjson.sh [bench]        gen, then build and run BenchmarkDecode once
#                                with easyjson (BENCHTIME, default 1x)
#
# gen copies the schemas package into a temporary module, adds
# easyjson/identityset_easyjson.go (IdentitySet's hand-written method), runs
# easyjson v0.9.2 (installed into ./bin) on graph.go there, and writes
# _build/easyjson/overlay.json, which adds the generated file and the hand
# one to package schemas (as zz_decbench_*.go) at build time through
# `go build -overlay`. Paths in the overlay are absolute, computed here.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
EASYJSON_VERSION=v0.9.2
out=$here/_build/easyjson
overlay=$out/overlay.json

jsonstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

gen() {
	schemas=$(go list -f '{{.Dir}}' github.com/callrecords-etl/callrecords-etl/schemas)
	GOBIN="$here/bin" go install "github.com/mailru/easyjson/easyjson@$EASYJSON_VERSION"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir "$tmp/schemas"
	cp "$schemas"/*.go "$tmp/schemas/"
	rm -f "$tmp/schemas/"*_test.go "$tmp/schemas/"zz_decbench_*.go
	sed '/^\/\/go:build ignore$/{N;d;}' easyjson/identityset_easyjson.go >"$tmp/schemas/identityset_easyjson.go"
	# A module of its own with the project's path, so that easyjson's
	# bootstrap program can import the copy as package schemas; the
	# easyjson version and checksums are this module's.
	cat >"$tmp/go.mod" <<-MOD
		module github.com/callrecords-etl/callrecords-etl

		go $(go list -m -f '{{.GoVersion}}')

		require (
			github.com/josharian/intern v1.0.0 // indirect
			github.com/mailru/easyjson $EASYJSON_VERSION
		)
	MOD
	cp go.sum "$tmp/go.sum"
	(cd "$tmp/schemas" && "$here/bin/easyjson" -no_std_marshalers -all graph.go)
	mkdir -p "$out"
	cp "$tmp/schemas/graph_easyjson.go" "$tmp/schemas/identityset_easyjson.go" "$out/"
	cat >"$overlay" <<-JSON
		{"Replace": {
		  $(jsonstr "$schemas/zz_decbench_graph_easyjson.go"): $(jsonstr "$out/graph_easyjson.go"),
		  $(jsonstr "$schemas/zz_decbench_identityset_easyjson.go"): $(jsonstr "$out/identityset_easyjson.go")
		}}
	JSON
	rm -rf "$tmp"
	trap - EXIT
	echo "easyjson: $(wc -l <"$out/graph_easyjson.go") lines generated; overlay $overlay" >&2
}

cmd=${1:-bench}
[ $# -gt 0 ] && shift
case $cmd in
gen)
	gen
	;;
test)
	gen
	go test -tags decbench_easyjson -overlay "$overlay" "$@" .
	;;
bench)
	gen
	go test -c -o _build/decoders.test -tags decbench_easyjson -overlay "$overlay" .
	./_build/decoders.test -test.run '^$' -test.bench '^BenchmarkDecode$' \
		-test.benchmem -test.count 1 -test.benchtime "${BENCHTIME:-1x}" "$@"
	;;
*)
	echo "usage: $0 [gen | test [go test flags] | bench [test binary flags]]" >&2
	exit 2
	;;
esac
