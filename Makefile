.PHONY: test demo build
test:
	scripts/test
demo:
	scripts/demo
build:
	GOTOOLCHAIN=local go build -o bin/drctl ./cmd/drctl
