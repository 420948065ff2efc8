"""The meter (the paper's 3SMA): acquisition, measurement algorithms and the daemon."""
