"""Reference recurrent models built on minigrad, hand-derived BPTT, synthetic tasks, the bundled corpus."""
