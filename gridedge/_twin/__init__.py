"""Pure numpy/scipy twins of the compiled kernels: test oracles and benchmark baselines."""
