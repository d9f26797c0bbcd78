# drctl's image: the CLI, worker and serve, without the embedded Temporal
# server (-tags noserver), beside the Postgres 15 client programs its steps
# run (pg_dump, pg_restore, psql). Build: docker build -t drctl .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go build -tags noserver -trimpath -buildvcs=false -o /out/drctl ./cmd/drctl

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/drctl --create-home drctl
COPY --from=build /out/drctl /usr/local/bin/drctl
COPY --chown=drctl runbooks/library /var/lib/drctl/runbooks/library
USER drctl
WORKDIR /var/lib/drctl
ENV DRCTL_CONFIG=/etc/drctl/drctl.yaml
EXPOSE 8088 9090
HEALTHCHECK --interval=15s --timeout=5s CMD curl -fsS http://127.0.0.1:9090/readyz || exit 1
ENTRYPOINT ["drctl"]
CMD ["worker", "--metrics-listen", ":9090", "--reports", "/var/lib/drctl/reports"]
