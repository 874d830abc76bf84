# abuseguard: a static binary on a distroless base, running as a non-root
# user with a read-only root filesystem.
#
#   docker build --build-arg VERSION=v1.2.3 -t abuseguard .
#   docker run --read-only -p 8080:8080 \
#     -v ./config.yaml:/etc/abuseguard/config.yaml:ro \
#     -v abuseguard-state:/var/lib/abuseguard \
#     abuseguard serve --config /etc/abuseguard/config.yaml \
#       --listen 0.0.0.0:8080 --admin-listen 0.0.0.0:9090
#
# Keep the admin port (9090) off public networks: publish 8080 only.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/abuseguard/abuseguard/internal/cli.version=${VERSION}" \
      -o /out/abuseguard ./cmd/abuseguard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/abuseguard /usr/local/bin/abuseguard
# Decisions (decisions.path is relative) live on a volume; everything else
# is read-only.
WORKDIR /var/lib/abuseguard
VOLUME /var/lib/abuseguard
EXPOSE 8080 9090
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/abuseguard"]
CMD ["serve", "--config", "/etc/abuseguard/config.yaml", "--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9090"]
