"""PEP 517 build backend: OCA's ``whool``, with the addon's name taken from the manifest's folder
name ``account_ap_sync`` wherever the repository was cloned.

whool names the distribution after the addon's directory (``odoo-addon-<folder name>``). OCA keeps
each addon in a folder of its name; this repository *is* the addon, so a clone in a folder named
otherwise (``git clone <url> main``) would build ``odoo_addon_main-*.whl``, which installs the
module as ``odoo/addons/main``. This backend hands whool a symbolic link named ``account_ap_sync``
to the clone instead of the clone's own path; whool does everything else (metadata from the
manifest, version from git, files from ``git ls-files``). It sits in ``tools/`` and is never imported
by the module. A clone already named ``account_ap_sync`` goes straight to whool.
"""

import contextlib
import os
import tempfile
from pathlib import Path

from whool import buildapi as _whool

ADDON_NAME = "account_ap_sync"


@contextlib.contextmanager
def _addon_dir():
    """The directory to give whool: the clone itself when it is named after the addon, else a link
    named after the addon. whool's internals called here (``_build_wheel``, ``_build_sdist``,
    ``_get_metadata``, ``_make_dist_info``) have the same signatures in every 1.x release, which
    ``pyproject.toml`` requires; its public hooks are these same calls with ``Path.cwd()``."""
    here = Path.cwd()
    if here.name == ADDON_NAME:
        yield here
        return
    with tempfile.TemporaryDirectory(prefix="ap-sync-whool-") as tmp:
        link = Path(tmp) / ADDON_NAME
        link.symlink_to(here, target_is_directory=True)
        yield link


def _fix_editable_link(addon_dir):
    """An editable build links ``build/__editable__/odoo/addons/<addon>`` to the directory whool was
    given: point it at the clone, as the temporary link is gone after the build."""
    real = addon_dir.resolve()
    link = real / "build" / "__editable__" / "odoo" / "addons" / ADDON_NAME
    if link.is_symlink() and Path(os.readlink(link)) != real:
        link.unlink()
        link.symlink_to(real, target_is_directory=True)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with _addon_dir() as addon_dir:
        return _whool._build_wheel(addon_dir, Path(wheel_directory), editable=False)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    with _addon_dir() as addon_dir:
        name = _whool._build_wheel(addon_dir, Path(wheel_directory), editable=True)
        _fix_editable_link(addon_dir)
        return name


def build_sdist(sdist_directory, config_settings=None):
    with _addon_dir() as addon_dir:
        return _whool._build_sdist(addon_dir, Path(sdist_directory))


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with _addon_dir() as addon_dir:
        return _whool._make_dist_info(_whool._get_metadata(addon_dir), Path(metadata_directory))


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
