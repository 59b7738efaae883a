# Parley's tasks. `./dev <recipe>` installs what is needed first; `just <recipe>` assumes it is.

export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

# list the recipes
default:
    @just --list

# run the whole system on this machine (embedded NATS, PostgreSQL and local model)
up:
    parley up

# the whole test suite (real NATS, PostgreSQL, model and browser)
test *args:
    python -m pytest -p no:cacheprovider {{args}}

# tests without the real model or the browser: the quick loop while coding
test-fast *args:
    python -m pytest -m "not slow and not browser" {{args}}

# browser tests only
test-browser *args:
    python -m pytest -m browser {{args}}

# lint and format check
lint:
    ruff check .
    ruff format --check .

# benchmarks: `just bench --quick` finishes in under two minutes
bench *args:
    parley bench {{args}}

# print the JSON Schema of every event
schema:
    parley events schema

# print the settings table for the README
settings:
    parley settings
