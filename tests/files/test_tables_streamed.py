"""Every test of test_tables.py again, with the file read as a stream: through a real pipe
(as ``-i -``, ``/dev/stdin`` or ``<(...)`` give it), and gzip-compressed through a pipe. A
stream is read once, front to back, so this checks that nothing there needs to seek or read
twice: the same rows, the same chunks, the same messages to the line and column."""

import gzip
from pathlib import Path

import pytest

import tests.files.test_tables as base
from tests.files.test_tables import *  # noqa: F403 - the same tests, collected again here
from tests.helpers import pipe_of
from velora.files.tables import CsvReader, read_table


@pytest.fixture(autouse=True, params=["pipe", "gzip pipe"])
def streamed(request, monkeypatch):
    """Point test_tables' CsvReader and read_table at a stream of the file's bytes (named as the
    file, so that messages read the same); a path that is no file keeps the original."""

    def reader(path, **options):
        path = Path(path)
        if not path.is_file():
            return CsvReader(path, **options)
        data = path.read_bytes()
        if request.param == "gzip pipe":
            data = gzip.compress(data, mtime=0)
        made = CsvReader(pipe_of(data), name=str(path), **options)
        assert made.path is None  # a stream indeed, not the file
        return made

    monkeypatch.setattr(base, "CsvReader", reader)
    monkeypatch.setattr(base, "read_table", lambda path, **o: read_table(reader(path, **o)))
    return request.param
