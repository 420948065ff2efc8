"""tools/wheelcheck.py: wheel tags, the machine code of every ELF file, declared extensions.

The wheels here are zip archives made by the tests; their x86_64 extension modules are the
real ones of this installation, their aarch64 ones start with a real AArch64 ELF header.
"""

import importlib.util
import struct
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import gridedge._native.phasor

TOOL = Path(__file__).parents[1] / "tools" / "wheelcheck.py"
SUFFIXES = [".cpython-311-aarch64-linux-gnu.so", ".abi3.so", ".so"]
TAG = "cp311-cp311-linux_aarch64"
NAME = f"gridedge-0.1.0-{TAG}.whl"
MODULES = ["gridedge._native.phasor", "gridedge._native.ring"]
# The first 20 bytes of an AArch64 shared object: ELF64, little-endian, ET_DYN, EM_AARCH64.
AARCH64_HEADER = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HH", 3, 183) + bytes(44)


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheelcheck", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["wheelcheck"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


wheelcheck = load_tool()


def make_wheel(
    directory: Path,
    members: dict[str, bytes],
    *,
    name: str = NAME,
    tags: tuple[str, ...] = (TAG,),
    purelib: str = "false",
) -> Path:
    metadata = "Wheel-Version: 1.0\nGenerator: test\n" + f"Root-Is-Purelib: {purelib}\n"
    metadata += "".join(f"Tag: {tag}\n" for tag in tags)
    path = directory / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("gridedge/__init__.py", "")
        for member, data in members.items():
            archive.writestr(member, data)
        archive.writestr("gridedge-0.1.0.dist-info/WHEEL", metadata)
    return path


def aarch64_modules() -> dict[str, bytes]:
    return {
        f"{module.replace('.', '/')}{SUFFIXES[0]}": AARCH64_HEADER + b"code" for module in MODULES
    }


def check(path: Path, **overrides: object) -> Any:
    arguments: dict[str, object] = {
        "tags": [TAG],
        "machine": "aarch64",
        "suffixes": SUFFIXES,
        "modules": MODULES,
    }
    arguments.update(overrides)
    return wheelcheck.check_wheel(path, **arguments)


def test_a_good_wheel_passes(tmp_path: Path) -> None:
    report = check(make_wheel(tmp_path, aarch64_modules()))
    assert report.problems == ()
    assert report.ok
    assert report.tags == (TAG,)
    assert {h.machine_name for h in report.elf_files.values()} == {"aarch64"}
    assert len(report.elf_files) == 2


def test_host_code_in_an_aarch64_wheel_is_caught(tmp_path: Path) -> None:
    members = aarch64_modules()
    host_module = Path(gridedge._native.phasor.__file__).read_bytes()
    members[f"gridedge/_native/phasor{SUFFIXES[0]}"] = host_module
    report = check(make_wheel(tmp_path, members))
    assert not report.ok
    (problem,) = report.problems
    assert problem.startswith("gridedge/_native/phasor.cpython-311-aarch64-linux-gnu.so: 64-bit")
    assert "x86_64 code, expected 64-bit little-endian aarch64" in problem


def test_a_missing_extension_is_named(tmp_path: Path) -> None:
    members = aarch64_modules()
    del members[f"gridedge/_native/ring{SUFFIXES[0]}"]
    report = check(make_wheel(tmp_path, members))
    assert report.problems == (
        "extension module gridedge._native.ring is missing (gridedge/_native/ring<suffix>)",
    )


def test_an_extension_the_target_would_not_import_is_caught(tmp_path: Path) -> None:
    members = {
        name.replace("aarch64-linux-gnu", "x86_64-linux-gnu"): data
        for name, data in aarch64_modules().items()
    }
    problems = check(make_wheel(tmp_path, members)).problems
    assert sum("the target imports no module from it" in p for p in problems) == 2
    assert sum("is missing" in p for p in problems) == 2


def test_tags_must_match_the_name_the_metadata_and_the_target(tmp_path: Path) -> None:
    wrong_name = make_wheel(
        tmp_path, aarch64_modules(), name="gridedge-0.1.0-cp311-cp311-linux_x86_64.whl"
    )
    assert any("file name tags" in p for p in check(wrong_name).problems)
    (tmp_path / "other").mkdir()
    wrong_metadata = make_wheel(tmp_path / "other", aarch64_modules(), tags=("py3-none-any",))
    assert check(wrong_metadata).problems == (
        f"WHEEL Tag lines ['py3-none-any'] != file name ('{TAG}',)",
    )
    (tmp_path / "pure").mkdir()
    purelib = make_wheel(tmp_path / "pure", aarch64_modules(), purelib="true")
    assert check(purelib).problems == (
        "WHEEL says Root-Is-Purelib: true for a wheel with binaries",
    )


def test_extension_module_names() -> None:
    assert wheelcheck.extension_module(f"a/b/ring{SUFFIXES[0]}", SUFFIXES) == "a.b.ring"
    assert wheelcheck.extension_module("a/ring.abi3.so", SUFFIXES) == "a.ring"
    assert wheelcheck.extension_module("a/ring.so", SUFFIXES) == "a.ring"
    assert wheelcheck.extension_module("a/ring.cpython-311-x86_64-linux-gnu.so", SUFFIXES) is None
    assert wheelcheck.extension_module("a/libfoo-1.2.so.3", SUFFIXES) is None


def test_wheel_tags_expand_compressed_sets() -> None:
    name = "numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl"
    assert wheelcheck.wheel_tags(name) == (
        "cp311-cp311-manylinux_2_27_aarch64",
        "cp311-cp311-manylinux_2_28_aarch64",
    )
    assert wheelcheck.wheel_tags("pkg-1.0-1-py3-none-any.whl") == ("py3-none-any",)
    with pytest.raises(ValueError, match="not name-version"):
        wheelcheck.wheel_tags("pkg-py3-none-any.whl")
    with pytest.raises(ValueError, match="not a wheel file name"):
        wheelcheck.wheel_tags("pkg-1.0.tar.gz")


def test_read_elf_header() -> None:
    header = wheelcheck.read_elf_header(AARCH64_HEADER)
    assert (header.bits, header.little_endian, header.machine) == (64, True, 183)
    big_endian = b"\x7fELF\x01\x02\x01" + bytes(9) + struct.pack(">HH", 2, 40)
    arm = wheelcheck.read_elf_header(big_endian)
    assert (arm.bits, arm.little_endian, arm.machine_name) == (32, False, "arm")
    assert wheelcheck.read_elf_header(b"#!/bin/sh\n") is None
    with pytest.raises(ValueError, match="truncated"):
        wheelcheck.read_elf_header(b"\x7fELF\x02\x01")
    with pytest.raises(ValueError, match="invalid ELF identification"):
        wheelcheck.read_elf_header(b"\x7fELF\x07\x01" + bytes(20))


def test_command_line_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_wheel(tmp_path, aarch64_modules())
    arguments = [str(good), "--tag", TAG, "--machine", "aarch64"]
    arguments += [a for s in SUFFIXES for a in ("--suffix", s)]
    arguments += [a for m in MODULES for a in ("--module", m)]
    assert wheelcheck.main(arguments) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  ok"
    assert wheelcheck.main([*arguments, "--module", "gridedge._native.fault"]) == 1
    assert "1 problem(s)" in capsys.readouterr().out
