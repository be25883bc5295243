"""Which weights are frozen: layer-wise densities and the ternary freeze pattern."""
