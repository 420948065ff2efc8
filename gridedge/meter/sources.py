"""Open the acquisition backend the settings choose: ``simulated``, ``comtrade`` or ``uldaq``.

Each backend is imported only when chosen, so a meter scanning a DAQ never loads the grid
simulator, and one replaying COMTRADE never needs ``uldaq``. The options of the backend are
the table ``parameters.acquisition.options`` of the meter's settings.
"""

from typing import Any

from gridedge import config
from gridedge.meter.acquisition import Source
from gridedge.meter.settings import AcquisitionSettings

WHERE = "settings.parameters.acquisition.options"


def open_source(settings: AcquisitionSettings, meter_id: str) -> Source:
    """Open the source `settings.backend` names.

    Parameters
    ----------
    settings : AcquisitionSettings
        Backend, sampling rate and options.
    meter_id : str
        This meter (the simulator's default for which meter of its grid to play).

    Raises
    ------
    ConfigurationError
        An option is unknown or wrong.
    BackendUnavailableError
        ``uldaq`` chosen where the uldaq package or libuldaq is missing.
    AcquisitionError
        The DAQ is not found or fails.
    """
    if settings.backend == "comtrade":
        from gridedge.meter.replay import ComtradeReplay, ReplaySettings

        return ComtradeReplay.open(
            config.from_mapping(ReplaySettings, settings.options, where=WHERE)
        )
    if settings.backend == "uldaq":
        from gridedge.meter.daq import DaqSettings, DaqSource

        options: dict[str, Any] = {"fs": settings.fs, **settings.options}
        return DaqSource(config.from_mapping(DaqSettings, options, where=WHERE))
    from gridedge.meter.simulated import SimulatedSettings, open_simulated

    simulated = config.from_mapping(SimulatedSettings, settings.options, where=WHERE)
    return open_simulated(settings.fs, meter_id, simulated)
