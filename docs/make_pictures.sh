#!/bin/sh
# Regenerate the README's graph pictures (run from the repository root with the project's Python).
# Steps are drawn 1..T: h_0 is the initial state, step t reads x[t] and makes h_t.
set -e
PY=${PYTHON:-.venv/bin/python}
"$PY" -m viz render --cell rnn --steps 4 --detail cell --out docs/unrolled_rnn.png
"$PY" -m viz render --cell rnn --steps 4 --detail cell --rolled --out docs/rolled_rnn.png
