# SAM's makefile build method calls build-<LogicalId> with ARTIFACTS_DIR set.
# Static, stripped linux/arm64 binaries named bootstrap for provided.al2023.
GO ?= go
GOFLAGS_BUILD = -tags lambda.norpc -trimpath -ldflags="-s -w"
ARTIFACTS_DIR ?= $(CURDIR)/bin

.PHONY: build-MonitorFunction build-WebhookFunction build test ci

build-MonitorFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/monitor

build-WebhookFunction:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build $(GOFLAGS_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/webhook

# Both bootstraps side by side under bin/, for a look without SAM.
build:
	$(MAKE) build-MonitorFunction ARTIFACTS_DIR=$(CURDIR)/bin/monitor
	$(MAKE) build-WebhookFunction ARTIFACTS_DIR=$(CURDIR)/bin/webhook

test:
	$(GO) test ./...

ci:
	bash .ci/run
