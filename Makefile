.PHONY: test demo build bench bench-sizes
test:
	scripts/test
demo:
	scripts/demo
build:
	GOTOOLCHAIN=local go build -buildvcs=auto -o bin/drctl ./cmd/drctl 2>/dev/null || GOTOOLCHAIN=local go build -buildvcs=false -o bin/drctl ./cmd/drctl
# Speed targets, measured side by side against a baseline; not part of the tests.
bench:
	GOTOOLCHAIN=local go test -run='^$$' -bench=FiftySteps -benchtime=10x ./bench
	GOTOOLCHAIN=local go test -run='^$$' -bench=StoreThroughput -benchtime=5x ./bench
	GOTOOLCHAIN=local go test -run='^$$' -bench='^BenchmarkRestore$$' -benchtime=3x -timeout=60m ./bench
	GOTOOLCHAIN=local go test -run='^$$' -bench=PITR -benchtime=3x -timeout=60m ./bench
	GOTOOLCHAIN=local go test -run='^$$' -bench=WALPush -benchtime=3x -timeout=30m ./bench
# Restore time and memory against the database's size, drawn into docs/img.
bench-sizes:
	rm -f bench/out/restore-by-size.jsonl
	GOTOOLCHAIN=local go test -run='^$$' -bench='^BenchmarkRestoreBySize$$' -benchtime=1x -timeout=120m ./bench
	cp bench/out/restore-by-size.jsonl docs/img/
	GOTOOLCHAIN=local go run ./bench/plot -in docs/img/restore-by-size.jsonl -out docs/img
