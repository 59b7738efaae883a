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
    python -m pytest -p no:cacheprovider "$@"

# tests without the real model or the browser: the quick loop while coding
test-fast *args:
    python -m pytest -m "not slow and not browser" "$@"

# browser tests only
test-browser *args:
    python -m pytest -m browser "$@"

# lint and format check
lint:
    ruff check .
    ruff format --check .

# benchmarks: `just bench --quick` finishes in under two minutes
bench *args:
    parley bench "$@"

# print the JSON Schema of every event
schema:
    parley events schema

# print the settings table for the README
settings:
    parley settings
