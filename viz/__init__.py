"""Pictures of minigrad graphs: unrolled and rolled RNNs rendered with Graphviz, gradient-flow plots."""
