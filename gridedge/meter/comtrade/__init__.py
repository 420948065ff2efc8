"""IEEE C37.111 COMTRADE records, as fault recorders write them: reading and writing.

Supported: the 1999 and 2013 revisions; a ``.cfg`` file with its ``.dat`` file, or a 2013
``.cff`` single file; data in ASCII, BINARY (16-bit), BINARY32 and FLOAT32. Not supported:
the 1991 revision (its first line has no revision year) and the ``.hdr`` and ``.inf``
files (they hold free text; a ``.cff`` writer leaves their sections empty).

The configuration (``.cfg``) describes each analog channel with ``a``, ``b``, ``primary``,
``secondary`` and the ``PS`` flag: a stored value ``x`` means ``a x + b`` in the channel's
unit, on the primary side when PS is ``P`` and on the secondary side (to be multiplied by
``primary / secondary``) when it is ``S``. A :class:`Record` keeps the stored values as they
are, so a record read and written again is unchanged; :attr:`AnalogChannel.gain` and
:attr:`AnalogChannel.offset` give the map to primary values.

Every malformed input raises :class:`~gridedge.errors.InvalidInputError` naming the file,
the line (or data record) and the field.
"""

from gridedge.meter.comtrade.formats import FILE_TYPES, REVISIONS
from gridedge.meter.comtrade.reading import read
from gridedge.meter.comtrade.record import AnalogChannel, Record, SampleRate, StatusChannel
from gridedge.meter.comtrade.writing import write

__all__ = [
    "FILE_TYPES",
    "REVISIONS",
    "AnalogChannel",
    "Record",
    "SampleRate",
    "StatusChannel",
    "read",
    "write",
]
