# Parley's tasks. `./dev <recipe>` installs what is needed first; `just <recipe>` assumes it is.

set positional-arguments

export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

# list the recipes
default:
    @just --list

# run the whole system on this machine (embedded NATS, PostgreSQL and local model)
up:
    parley up

# the whole test suite (real NATS, PostgreSQL, model and browser)
test *args:
    just _pytest "$@"

# tests without the real model or the browser: the quick loop while coding
test-fast *args:
    just _pytest -m "not slow and not browser" "$@"

# browser tests only
test-browser *args:
    just _pytest -m browser "$@"

# pytest with a temp folder of its own: pytest prunes the shared one, under concurrent runs' feet
_pytest *args:
    #!/usr/bin/env bash
    set -euo pipefail
    base=$(mktemp -d -t parley-tests-XXXXXX)
    trap 'rm -rf "$base"' EXIT
    python -m pytest -p no:cacheprovider --basetemp="$base" "$@"

# lint and format check
lint:
    ruff check .
    ruff format --check .

# benchmarks: `just bench --quick` finishes in under two minutes
bench *args:
    parley bench "$@"

# faults under load (kill -9 workers and an edge, restart NATS and PostgreSQL, double SIGINT to
# `parley up`); prints a table and `chaos: F faults, L lost, D duplicated`. `just chaos --quick`: ~90 s
chaos *args:
    python -m services.chaos.main "$@"

# 30 min at moderate load: RSS, file descriptors and JetStream consumers over time, growth < 5 %
# (`just soak --minutes 3` for a short one)
soak *args:
    python -m services.chaos.soak "$@"

# print the JSON Schema of every event
schema:
    parley events schema

# print the settings table for the README
settings:
    parley settings

# regenerate the web UI's wire types (src/wire/) and its lifecycle cases (test/) after changing a REST model, a frame or the fold
wire:
    python -m services.edge.wire
    python -m tests.support.lifecycle_cases
    cd services/edge/web && npm run --silent wire

# nats-server's own CPU per stored event with Parley's consumers (GOMAXPROCS compared); ~1 minute
bench-floor *args:
    python -m services.bench.floor "$@"
