"""Fetch the freely downloadable data sets into a data folder (needs internet; never called by loaders).

``download("movielens", "~/data")`` fetches the official GroupLens zip and unpacks it to
``~/data/ml-latest-small``; ``download("online_retail", "~/data")`` fetches the UCI zip and puts
``Online Retail.xlsx`` in ``~/data/online-retail`` (``variant="ii"``: ``online_retail_II.xlsx`` in
``~/data/online-retail-ii``). Then set ``RECNB_DATA_DIR=~/data``. RetailRocket,
REES46 and Taobao are published behind a login (Kaggle, Tianchi): :func:`download` raises
:class:`ManualDownloadRequired` with the page and where to put the files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from recnb.data.loaders import movielens, online_retail
from recnb.data.loaders._common import PathLike
from recnb.data.loaders.registry import DATA_DIR_ENV, get_source

log = logging.getLogger(__name__)

MOVIELENS_MD5: dict[str, str] = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-10m": "ce571fd55effeba0271552578f2648bd",
    "ml-20m": "cd245b17a1ae2cc31bb14903e1204af3",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
}
"""MD5 sums GroupLens publishes beside the fixed releases (the "latest" ones change over time)."""


class ManualDownloadRequired(RuntimeError):
    """The data set sits behind a login; the message says where to get it and where to put it."""


def _fetch(url: str, folder: Path, timeout: float) -> Path:
    """Stream ``url`` into a temporary file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download.", suffix=".zip", dir=folder)
    log.info("downloading %s", url)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out, length=1 << 20)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _md5(file: Path) -> str:
    h = hashlib.md5()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _extract(archive: Path, into: Path) -> None:
    """Unpack a zip, refusing members that would land outside ``into``."""
    root = into.resolve()
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (root / member.filename).resolve()
            if not target.is_relative_to(root):
                raise ValueError(
                    f"{archive}: member {member.filename!r} would unpack outside {root}"
                )
        zf.extractall(root)


def download(
    name: str,
    dest: PathLike,
    *,
    variant: str | None = None,
    url: str | None = None,
    overwrite: bool = False,
    timeout: float = 120.0,
) -> Path:
    """Download data set ``name`` into ``dest/<folder>`` and return that folder.

    Parameters
    ----------
    name : str
        ``"online_retail"`` or ``"movielens"`` (the others need a login: see Raises).
    dest : str or Path
        The data folder (what ``RECNB_DATA_DIR`` should point to).
    variant : str, optional
        MovieLens release (``"ml-latest-small"`` by default; ``"ml-100k"``, ``"ml-1m"``, ``"ml-25m"``...);
        for Online Retail ``"ii"`` fetches Online Retail II (2009-2011) into ``online-retail-ii``.
    url : str, optional
        Another location of the same zip (a mirror or a local ``file://`` copy); the official URL
        otherwise. The MD5 of fixed MovieLens releases is checked only for the official URL.
    overwrite : bool
        Replace a folder that already holds the data; by default it is returned as it is.
    timeout : float
        Seconds to wait for the server.

    Raises
    ------
    ManualDownloadRequired
        For ``retailrocket``, ``rees46`` and ``taobao``: the message names the page, the files and
        the folder to put them in.
    """
    src = get_source(name)
    dest = Path(dest).expanduser()
    if name == "online_retail":
        if variant not in (None, "ii"):
            raise ValueError(
                f"download('online_retail'): option variant={variant!r} is not allowed; allowed "
                "values are None (Online Retail, 2010-2011) and 'ii' (Online Retail II, 2009-2011)"
            )
        folder = dest / src.folders[1 if variant == "ii" else 0]
        official = online_retail.URL_II if variant == "ii" else online_retail.URL
        if src.holds(folder) and not overwrite:
            return folder
        archive = _fetch(url or official, dest, timeout)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack.", dir=dest))
        try:
            _extract(archive, tmp)
            found = sorted(tmp.rglob("*.xlsx"))
            if not found:
                raise ValueError(f"{url or official}: the archive holds no .xlsx file")
            folder.mkdir(parents=True, exist_ok=True)
            for f in found:
                os.replace(f, folder / f.name)
        finally:
            archive.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        return folder
    if name == "movielens":
        variant = variant or "ml-latest-small"
        if variant not in movielens.VARIANT_FOLDERS:
            raise ValueError(
                f"option variant={variant!r} is not allowed; allowed values are "
                f"{list(movielens.VARIANT_FOLDERS)}"
            )
        folder = dest / movielens.VARIANT_FOLDERS[variant]
        if src.holds(folder) and not overwrite:
            return folder
        archive = _fetch(url or movielens.URL_TEMPLATE.format(variant=variant), dest, timeout)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack.", dir=dest))
        try:
            if url is None and variant in MOVIELENS_MD5:
                got = _md5(archive)
                if got != MOVIELENS_MD5[variant]:
                    raise ValueError(
                        f"{variant}.zip: MD5 {got} differs from the published "
                        f"{MOVIELENS_MD5[variant]}; the download is corrupt"
                    )
            _extract(archive, tmp)
            unpacked = tmp / folder.name
            if not movielens.detect_layout(unpacked):
                raise ValueError(
                    f"{url or variant}: the archive does not unpack to {folder.name}/ with a ratings file"
                )
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(unpacked, folder)
        finally:
            archive.unlink(missing_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
        return folder
    folder = dest / src.folders[0]
    raise ManualDownloadRequired(
        f"{name} cannot be downloaded automatically (the publisher requires a login). "
        f"{src.how_to_get.replace('DATA_DIR', str(dest))}; it must hold {src.expected}. "
        f"Then set {DATA_DIR_ENV}={dest} (expected folder: {folder})."
    )
