# syntax=docker/dockerfile:1
# The line above pins the BuildKit Dockerfile frontend, which the cache mounts
# below need.

# Build stage: the full Go toolchain, used only to compile; none of it ships.
FROM golang:1.26-bookworm AS build
WORKDIR /src

# Dependencies first, in their own layer: editing the app's code doesn't
# invalidate it, so rebuilds skip the download. The cache mount keeps modules
# between builds even when go.mod changes.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# Then the source. .dockerignore keeps .env, .git and other non-source files
# out of the build context, so no secret can end up in a layer.
COPY . .

# CGO_ENABLED=0: a static binary, so it runs on an image without libc.
# -trimpath: no local file-system paths in the binary (reproducible builds).
# -ldflags="-s -w": drop the symbol table and DWARF data (a smaller image).
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dosignin .

# Final stage: distroless "static" has CA certificates (for TLS to
# DigitalOcean) and tzdata, but no shell or package manager to exploit.
# The :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dosignin /dosignin
USER nonroot:nonroot

# App Platform injects PORT itself; this default matches the app's own.
ENV PORT=5000
EXPOSE 5000

# Exec form because the image has no shell: the binary checks itself by
# calling GET /healthz on 127.0.0.1:$PORT and exiting 0 or 1.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/dosignin", "healthcheck"]

ENTRYPOINT ["/dosignin"]
