# syntax=docker/dockerfile:1.7
#
# One image with both binaries, selected by command (the Helm chart does this):
#   /usr/local/bin/keywarden-provider   Secrets Store CSI provider (DaemonSet on every node)
#   /usr/local/bin/keywarden-kms        kube-apiserver KMS v2 plugin (control-plane nodes)
#
# Build (multi-arch):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=0.1.0 -t ghcr.io/keywarden/keywarden:0.1.0 .
#
# The binaries are static (musl, crt-static), so the runtime stage is distroless/static:
# no shell, no package manager, no libc; CA certificates and /etc/passwd only. The image's
# default user is non-root (65532); the chart runs the containers as uid 0 only because the
# socket directories are root-owned host paths (charts/keywarden/README.md, "Running as
# non-root").
#
# Each platform builds natively (buildx runs the arm64 stage under emulation, or on an arm64
# builder): aws-lc-rs, the AWS SDK's crypto, compiles C and is simplest to build for its host.

# The workspace needs Rust 1.94.1 or newer (the AWS SDK floor).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
ARG TARGETARCH
# C toolchain and headers for aws-lc-sys; perl and cmake for its build script fallbacks.
RUN apk add --no-cache musl-dev build-base cmake perl
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,id=keywarden-target-${TARGETARCH},sharing=locked \
    set -eu; \
    case "${TARGETARCH}" in \
      amd64) triple=x86_64-unknown-linux-musl ;; \
      arm64) triple=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    RUSTFLAGS="-C target-feature=+crt-static" \
      cargo build --locked --release --target "${triple}" \
        -p keywarden-provider -p keywarden-kms; \
    mkdir -p /out; \
    for bin in keywarden-provider keywarden-kms; do \
      cp "target/${triple}/release/${bin}" /out/; \
      strip /out/${bin}; \
      # Refuse a dynamically linked result: the runtime image has no libc.
      if readelf -l /out/${bin} | grep -q 'Requesting program interpreter'; then \
        echo "${bin} is not static" >&2; exit 1; \
      fi; \
    done

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="keywarden" \
      org.opencontainers.image.description="Keywarden: Secrets Store CSI provider and KMS v2 plugin for AWS KMS and S3" \
      org.opencontainers.image.source="https://github.com/keywarden/keywarden" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/keywarden-provider /out/keywarden-kms /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/keywarden-provider"]
CMD ["serve"]
