import ctypes

import pytest

from zoo import files


def folder(path, text):
    path.mkdir()
    (path / "a.txt").write_text(text)
    return path


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "three renames"])
def test_exchanging_folders_swaps_their_contents(tmp_path, monkeypatch, renameat2):
    if not renameat2:
        monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: (_ for _ in ()).throw(OSError("no libc")))
    new, old = folder(tmp_path / "new", "new"), folder(tmp_path / "old", "old")
    files.exchange_folders(new, old)
    assert (old / "a.txt").read_text() == "new" and (new / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]


def test_exchanging_with_a_missing_folder_fails_and_moves_nothing(tmp_path):
    new = folder(tmp_path / "new", "new")
    with pytest.raises(OSError):
        files.exchange_folders(new, tmp_path / "missing")
    assert (new / "a.txt").read_text() == "new" and not (tmp_path / "missing").exists()
