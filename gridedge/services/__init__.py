"""Remote services: network reconfiguration (FLISR restoration) and the others of the design.

Services may import :mod:`gridedge.grid` and :mod:`gridedge.meter`; nothing imports services.
"""
