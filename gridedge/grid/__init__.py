"""Grid model, network solvers, test cases and the waveform simulator."""
