# syntax=docker/dockerfile:1
#
# callrecords-etl container image: a static, CGO-free binary on distroless
# (CA certificates, tzdata, /etc/passwd with the nonroot user; no shell).
#
#   make image   (docker build --build-arg VERSION=$(cat VERSION) --build-arg COMMIT=<commit> \
#                   -t ghcr.io/callrecords-etl/callrecords-etl:v$(cat VERSION) .)
#
# Cross-building (e.g. arm64 from amd64) needs no emulation: the Go compiler
# cross-compiles, so the build stage runs on the build host's platform.

# Must be at least the go directive of go.mod (deploy/validate checks it).
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG COMMIT=unknown
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local
WORKDIR /src
# Module downloads in their own layer: rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w -X main.commit=${COMMIT}" -o /out/callrecords-etl . && \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/callrecords-etl-iceberg ./cmd/callrecords-etl-iceberg

# Pinned by digest (the :nonroot tag moves with Debian's updates), as public
# Dockerfiles pinned it on 2026-08-26; to update:
#   crane digest gcr.io/distroless/static-debian12:nonroot
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=dev
LABEL org.opencontainers.image.title="callrecords-etl" \
      org.opencontainers.image.description="Copies Microsoft Teams call records and PSTN / Direct Routing usage from Microsoft Graph into partitioned Parquet" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/callrecords-etl /usr/local/bin/callrecords-etl
# Started by --table-format iceberg runs, found next to the job's binary.
COPY --from=build /out/callrecords-etl-iceberg /usr/local/bin/callrecords-etl-iceberg
# 65532 is distroless's nonroot user. Numeric, so that Kubernetes'
# runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
# The job writes temporary Parquet files to CALLRECORDS_TEMP_DIR (default:
# /tmp): with a read-only root file system, mount a writable volume there.
ENTRYPOINT ["/usr/local/bin/callrecords-etl"]
CMD ["run"]
