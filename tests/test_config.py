"""Settings: defaults, then file, then environment, with errors that name the setting."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridedge import config
from gridedge.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    ratio: float = 0.5
    verbose: bool = False
    state: Path = Path("state")
    token: str | None = None
    brokers: tuple[str, ...] = ("grid", "monitoring")

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")


def test_defaults() -> None:
    assert config.load(Settings, environ={}) == Settings()


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "gridedge.toml"
    path.write_text('[catalog]\nport = 9000\nhost = "0.0.0.0"\nbrokers = ["a"]\n')
    environ = {
        "GRIDEDGE_CATALOG_PORT": "9100",
        "GRIDEDGE_CATALOG_VERBOSE": "yes",
        "GRIDEDGE_CATALOG_BROKERS": "x, y",
        "GRIDEDGE_PORT": "1",
    }
    settings = config.load(Settings, path, section="catalog", environ=environ)
    assert settings == Settings(host="0.0.0.0", port=9100, verbose=True, brokers=("x", "y"))


def test_json_file_and_optional_values(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"token": "abc", "ratio": 2, "state": "/var/lib/x"}))
    settings = config.load(Settings, path, environ={"GRIDEDGE_TOKEN": ""})
    assert settings.token is None
    assert settings.ratio == 2.0
    assert settings.state == Path("/var/lib/x")


@pytest.mark.parametrize(
    ("text", "environ", "message"),
    [
        ("prot = 1\n", {}, "unknown setting 'prot'"),
        ('port = "80"\n', {}, "port: '80' is not an integer"),
        ("port = 1.5\n", {}, "port: 1.5 is not an integer"),
        ("verbose = 1\n", {}, "verbose: 1 is not a boolean"),
        ("port = 0\n", {}, "port must be in 1..65535"),
        ("", {"GRIDEDGE_RATIO": "half"}, "GRIDEDGE_RATIO: 'half' is not a number"),
        ("", {"GRIDEDGE_VERBOSE": "maybe"}, "GRIDEDGE_VERBOSE: 'maybe' is not a boolean"),
        ("port = [\n", {}, "cannot parse configuration"),
    ],
)
def test_errors_name_the_setting(tmp_path: Path, text: str, environ: dict, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        config.load(Settings, path, environ=environ)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read configuration .*nowhere\.toml"):
        config.load(Settings, tmp_path / "nowhere.toml", environ={})
