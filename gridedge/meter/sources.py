"""Open the acquisition backend the settings choose.

Each backend is imported only when chosen, so a meter replaying COMTRADE never loads the
simulator, and one without a DAQ never needs ``uldaq``.
"""

from gridedge import config
from gridedge.meter.acquisition import Source
from gridedge.meter.settings import AcquisitionSettings

WHERE = "settings.parameters.acquisition.options"


def open_source(settings: AcquisitionSettings) -> Source:
    """Open the source `settings.backend` names, configured by `settings.options`.

    Raises
    ------
    ConfigurationError
        An option is unknown or wrong.
    """
    if settings.backend == "comtrade":
        from gridedge.meter.replay import ComtradeReplay, ReplaySettings

        return ComtradeReplay.open(
            config.from_mapping(ReplaySettings, settings.options, where=WHERE)
        )
    from gridedge.meter.simulated import TestSignalSettings, TestSignalSource

    options = config.from_mapping(TestSignalSettings, settings.options, where=WHERE)
    return TestSignalSource(settings.fs, settings.f0, options)
