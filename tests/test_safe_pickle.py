"""Tests for the restricted unpickler (`datasets_scripts.builders.safe_pickle`)."""

import builtins
import collections
import gzip
import io
import lzma
import os
import pickle
import subprocess

import numpy as np
import pytest

from datasets_scripts.builders.safe_pickle import UnsafePickleError, safe_load


PLAIN_DATA = {
    "name": "dev/01April_2010_Thursday_heute-6697",
    "text": "und nun die wettervorhersage für morgen",
    "length": 181,
    "scale": 0.5,
    "flags": (True, False, None),
    "imgs_path": ["dev/x/images0001.png", "dev/x/images0002.png"],
    "tags": {"a", "b"},
    "ordered": collections.OrderedDict(first=1),
    "raw": b"\x00\xff",
    "features": np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3),
    "mask": np.array([True, False, True]),
    "half": np.ones((2, 2), np.float16),
    "transposed": np.arange(6).reshape(2, 3).T,
    "count": np.int64(7),
}

COMPRESSORS = {
    "plain": lambda data: data,
    "gzip": gzip.compress,
    "xz": lzma.compress,
    "lzma-alone": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE),
}


def assert_same(loaded, expected):
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, np.ndarray):
            assert loaded[key].dtype == value.dtype
            np.testing.assert_array_equal(loaded[key], value)
        else:
            assert loaded[key] == value and type(loaded[key]) is type(value)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("compression", COMPRESSORS)
def test_plain_data_round_trips(tmp_path, protocol, compression):
    path = tmp_path / "data.pkl"
    path.write_bytes(COMPRESSORS[compression](pickle.dumps(PLAIN_DATA, protocol=protocol)))
    assert_same(safe_load(path), PLAIN_DATA)
    with open(path, "rb") as handle:
        assert_same(safe_load(handle), PLAIN_DATA)


def test_lists_starting_like_an_lzma_header_stay_pickles():
    # Protocol 0-1 lists begin with 0x5D, the usual first byte of a legacy lzma header.
    for protocol in (0, 1):
        assert safe_load(io.BytesIO(pickle.dumps([], protocol=protocol))) == []
        assert safe_load(io.BytesIO(pickle.dumps([1, "a"], protocol=protocol))) == [1, "a"]


def test_real_phoenix14t_labels_load(phoenix14t_dev_labels):
    labels = safe_load(phoenix14t_dev_labels)
    assert len(labels) == 519
    entry = next(iter(labels.values()))
    assert set(entry) == {"name", "gloss", "text", "length", "imgs_path"}


class RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsSubprocess:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


class EvaluatesCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


class UserClass:
    """An ordinary class: not data the unpickler may construct."""

    def __init__(self, marker):
        self.marker = str(marker)


@pytest.mark.parametrize("payload", [RunsShell, RunsSubprocess, EvaluatesCode, UserClass])
@pytest.mark.parametrize("compression", COMPRESSORS)
def test_pickles_that_would_run_code_are_refused(tmp_path, payload, compression):
    marker = tmp_path / "marker"
    path = tmp_path / "labels.train"
    data = {"train/1": {"name": "train/1", "text": "hallo", "extra": payload(marker)}}
    path.write_bytes(COMPRESSORS[compression](pickle.dumps(data)))

    with pytest.raises(UnsafePickleError) as info:
        safe_load(path)

    assert not marker.exists()
    assert str(path) in str(info.value)
    assert "not a plain container, scalar or numpy array" in str(info.value)


def test_refusal_names_the_global(tmp_path):
    path = tmp_path / "features.lzma"
    with lzma.open(path, "wb") as handle:
        pickle.dump({"features": RunsShell(tmp_path / "marker")}, handle)
    with pytest.raises(UnsafePickleError, match=r"references `(posix|nt)\.system`"):
        safe_load(str(path))
    assert not (tmp_path / "marker").exists()


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / "labels.dev"
    path.write_bytes(gzip.compress(pickle.dumps(PLAIN_DATA))[:-40])
    with pytest.raises(ValueError, match=rf"{path} is not a readable pickle"):
        safe_load(path)


def test_stream_without_a_name():
    with pytest.raises(ValueError, match="<stream> is not a readable pickle"):
        safe_load(io.BytesIO(b"not a pickle"))
