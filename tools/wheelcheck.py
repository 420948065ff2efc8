"""Check that a binary wheel really is what its name says: tags, and machine code of every ELF file.

A wheel built by a cross compiler can carry the wrong machine code and still install. This
check reads the wheel (a zip archive) without installing it:

- the file name's tags equal the expected ones and the ``Tag`` lines of ``*.dist-info/WHEEL``;
- every ELF file in it (extension modules and anything else) is 64-bit little-endian code for
  the expected machine, read from the ELF header's ``e_machine`` field;
- every ELF file is an extension module the target interpreter imports (its name is a module
  name followed by one of the target's suffixes), and every module the build declared is there.

Usage: ``python tools/wheelcheck.py WHEEL --tag cp311-cp311-linux_aarch64 --machine aarch64
--suffix .cpython-311-aarch64-linux-gnu.so --module gridedge._native.phasor ...``
"""

import argparse
import dataclasses
import struct
import sys
import zipfile
from collections.abc import Iterable, Sequence
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
# e_machine values of the ELF specification (System V ABI, "Machine Information").
MACHINES = {"x86_64": 62, "aarch64": 183, "arm": 40, "riscv64": 243}
_MACHINE_NAMES = {number: name for name, number in MACHINES.items()}


@dataclasses.dataclass(frozen=True)
class ElfHeader:
    """The fields of an ELF header that say which machine runs the code.

    Attributes
    ----------
    bits : int
        32 or 64 (``EI_CLASS``).
    little_endian : bool
        ``EI_DATA`` is ``ELFDATA2LSB``.
    machine : int
        ``e_machine``: 62 for x86-64, 183 for AArch64.
    """

    bits: int
    little_endian: bool
    machine: int

    @property
    def machine_name(self) -> str:
        """``e_machine`` as a name, or its number when it is not one we know."""
        return _MACHINE_NAMES.get(self.machine, f"e_machine={self.machine}")


@dataclasses.dataclass(frozen=True)
class WheelReport:
    """What :func:`check_wheel` found.

    Attributes
    ----------
    path : Path
        The wheel.
    tags : tuple of str
        ``python-abi-platform`` tags of the file name (several when compressed, ``a.b``).
    elf_files : dict of str to ElfHeader
        Every ELF file of the archive by its path inside the wheel.
    problems : tuple of str
        Everything that is wrong; empty when the wheel passed.
    """

    path: Path
    tags: tuple[str, ...]
    elf_files: dict[str, ElfHeader]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def read_elf_header(data: bytes) -> ElfHeader | None:
    """Decode the identification and ``e_machine`` of an ELF file.

    Parameters
    ----------
    data : bytes
        The first bytes of a file (at least 20).

    Returns
    -------
    ElfHeader or None
        None when `data` does not start with the ELF magic number.

    Raises
    ------
    ValueError
        If the file starts like ELF but its header is truncated or its class or byte order
        is invalid.
    """
    if not data.startswith(ELF_MAGIC):
        return None
    if len(data) < 20:
        raise ValueError(f"ELF header truncated at {len(data)} bytes")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, ELFCLASS64) or ei_data not in (ELFDATA2LSB, 2):
        raise ValueError(f"invalid ELF identification: class {ei_class}, data {ei_data}")
    little = ei_data == ELFDATA2LSB
    (machine,) = struct.unpack_from("<H" if little else ">H", data, 18)
    return ElfHeader(
        bits=64 if ei_class == ELFCLASS64 else 32, little_endian=little, machine=machine
    )


def wheel_tags(filename: str) -> tuple[str, ...]:
    """Expand the compressed tag set of a wheel file name into ``python-abi-platform`` tags.

    Parameters
    ----------
    filename : str
        ``{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl``.

    Raises
    ------
    ValueError
        If `filename` is not a wheel file name.
    """
    if not filename.endswith(".whl"):
        raise ValueError(f"{filename!r} is not a wheel file name")
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"{filename!r} is not name-version[-build]-python-abi-platform.whl")
    pythons, abis, platforms = (p.split(".") for p in parts[-3:])
    return tuple(f"{p}-{a}-{s}" for p in pythons for a in abis for s in platforms)


def extension_module(name: str, suffixes: Sequence[str]) -> str | None:
    """Dotted name of the module the target imports from wheel member `name`, or None.

    ``gridedge/_native/ring.cpython-311-aarch64-linux-gnu.so`` gives ``gridedge._native.ring``
    with the target's suffixes; a file named for another platform gives None.
    """
    path = PurePosixPath(name)
    for suffix in suffixes:
        stem = path.name[: -len(suffix)]
        if path.name.endswith(suffix) and stem.isidentifier():
            return ".".join([*path.parent.parts, stem])
    return None


def check_wheel(
    path: Path,
    *,
    tags: Iterable[str],
    machine: str,
    suffixes: Sequence[str],
    modules: Iterable[str] = (),
) -> WheelReport:
    """Check a binary wheel's tags, the machine of its ELF files and its extension modules.

    Parameters
    ----------
    path : Path
        The ``.whl`` file.
    tags : iterable of str
        The exact set of ``python-abi-platform`` tags the wheel must carry.
    machine : str
        A key of :data:`MACHINES`; every ELF file must be 64-bit little-endian code for it.
    suffixes : sequence of str
        File name endings the target interpreter imports extension modules from
        (``importlib.machinery.EXTENSION_SUFFIXES`` there); every ELF file must end in one.
    modules : iterable of str
        Dotted names of the extension modules the build declared; each must be present.

    Returns
    -------
    WheelReport
        Tags, ELF headers and problems; nothing is raised for a bad wheel.
    """
    expected_machine = MACHINES[machine]
    problems: list[str] = []
    name_tags = wheel_tags(path.name)
    if set(name_tags) != set(tags):
        problems.append(f"file name tags {sorted(name_tags)} != expected {sorted(tags)}")
    elf_files: dict[str, ElfHeader] = {}
    found: set[str] = set()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        metadata = [n for n in names if n.endswith(".dist-info/WHEEL") and n.count("/") == 1]
        if len(metadata) != 1:
            problems.append(f"expected one *.dist-info/WHEEL, found {metadata}")
        else:
            wheel = HeaderParser().parsestr(archive.read(metadata[0]).decode())
            declared = wheel.get_all("Tag") or []
            if set(declared) != set(name_tags):
                problems.append(f"WHEEL Tag lines {sorted(declared)} != file name {name_tags}")
            if wheel.get("Root-Is-Purelib", "").strip().lower() != "false":
                problems.append("WHEEL says Root-Is-Purelib: true for a wheel with binaries")
        for name in names:
            with archive.open(name) as member:
                header = read_elf_header(member.read(64))
            if header is None:
                continue
            elf_files[name] = header
            if (header.bits, header.little_endian, header.machine) != (64, True, expected_machine):
                problems.append(
                    f"{name}: {header.bits}-bit "
                    f"{'little' if header.little_endian else 'big'}-endian "
                    f"{header.machine_name} code, expected 64-bit little-endian {machine}"
                )
            module = extension_module(name, suffixes)
            if module is None:
                problems.append(f"{name}: the target imports no module from it {list(suffixes)}")
            else:
                found.add(module)
    for module in modules:
        if module not in found:
            location = PurePosixPath(*module.split("."))
            problems.append(f"extension module {module} is missing ({location}<suffix>)")
    return WheelReport(path=path, tags=name_tags, elf_files=elf_files, problems=tuple(problems))


def format_report(report: WheelReport) -> str:
    """Render a :class:`WheelReport` as lines of text."""
    size_kib = report.path.stat().st_size / 1024
    lines = [f"{report.path.name}: {size_kib:.0f} KiB, tags {', '.join(report.tags)}"]
    lines += [f"  {name}: ELF{h.bits} {h.machine_name}" for name, h in report.elf_files.items()]
    lines += [f"  PROBLEM: {problem}" for problem in report.problems]
    lines.append("  ok" if report.ok else f"  {len(report.problems)} problem(s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Check one wheel, print what was found; exit status 1 when a problem was found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--tag", action="append", required=True, help="expected tag, repeatable")
    parser.add_argument("--machine", choices=sorted(MACHINES), required=True)
    parser.add_argument("--suffix", action="append", required=True, help="extension suffix")
    parser.add_argument("--module", action="append", default=[], help="declared extension")
    args = parser.parse_args(argv)
    report = check_wheel(
        args.wheel, tags=args.tag, machine=args.machine, suffixes=args.suffix, modules=args.module
    )
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
