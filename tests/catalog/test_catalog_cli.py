"""The ``gridedge catalog`` subcommands and the catalog's settings."""

import hashlib

import pytest

from gridedge import config
from gridedge.catalog.config import SECTION, CatalogConfig
from gridedge.cli import main
from gridedge.errors import ConfigurationError


def test_token_prints_a_token_and_its_hash(capsys):
    assert main(["catalog", "token"]) == 0
    lines = capsys.readouterr().out.splitlines()
    token = lines[0].split()[1]
    assert lines[1].split()[1] == hashlib.sha256(token.encode()).hexdigest()


def test_serve_refuses_to_start_without_an_administrator(tmp_path, capsys):
    path = tmp_path / "catalog.toml"
    path.write_text(f'[catalog]\ndatabase = "sqlite:///{tmp_path / "c.sqlite3"}"\n')
    assert main(["catalog", "serve", "--config", str(path)]) == 2
    assert "admin_token_sha256" in capsys.readouterr().err


def test_settings_come_from_file_and_environment(tmp_path):
    path = tmp_path / "catalog.toml"
    path.write_text('[catalog]\nworkers = 4\npackage_keys = ["ab", "cd"]\n')
    settings = config.load(
        CatalogConfig, path, section=SECTION, environ={"GRIDEDGE_CATALOG_BIND": "0.0.0.0:9000"}
    )
    assert (settings.workers, settings.bind) == (4, "0.0.0.0:9000")
    assert settings.package_keys == ("ab", "cd")


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"workers": 0}, "workers"),
        ({"certfile": "cert.pem"}, "keyfile"),
        ({"admin_token_sha256": "ABC"}, "admin_token_sha256"),
        ({"grid_broker": "localhost"}, "grid_broker"),
        ({"sweep_interval_s": 0.0}, "sweep_interval_s"),
    ],
)
def test_wrong_settings_name_the_setting(fields, needle):
    with pytest.raises(ConfigurationError, match=needle):
        CatalogConfig(**fields)


def test_unknown_database_urls_are_refused():
    from gridedge.catalog.store import open_store

    with pytest.raises(ConfigurationError, match="mysql"):
        open_store("mysql://x")
