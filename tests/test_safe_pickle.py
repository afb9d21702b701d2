"""Tests for the restricted unpickler (`datasets_scripts.builders.safe_pickle`)."""

import builtins
import collections
import gzip
import io
import lzma
import os
import pickle
import subprocess
import tracemalloc

import numpy as np
import pytest

from datasets_scripts.builders.features import read_hand_features
from datasets_scripts.builders.safe_pickle import UnsafePickleError, safe_load
from datasets_scripts.media import InvalidFileError


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


def test_corrupt_compressed_stream_names_the_file(tmp_path):
    for name, compress in (("labels.train", gzip.compress), ("features.xz", lzma.compress)):
        data = bytearray(compress(pickle.dumps(PLAIN_DATA)))
        data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8
        path = tmp_path / name
        path.write_bytes(bytes(data))
        with pytest.raises(ValueError, match=rf"{path} is not a readable pickle: its compressed stream is corrupt"):
            safe_load(path)


def _global(module, name):
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _int(value):
    return pickle.LONG1 + bytes([8]) + value.to_bytes(8, "little")


# A few dozen bytes that ask for gigabytes; each would allocate them before anything else happened.
HUGE_REQUESTS = {
    "bytearray of 8 GiB": _global("builtins", "bytearray") + _int(8 << 30) + pickle.TUPLE1 + pickle.REDUCE,
    "ndarray of 72 GiB": _global("numpy", "ndarray") + _int(9 << 30) + pickle.TUPLE1 + pickle.TUPLE1 + pickle.REDUCE,
    "ndarray.__new__ of 72 GiB": pickle.PROTO + b"\x02" + _global("numpy", "ndarray") + _int(9 << 30)
    + pickle.TUPLE1 + pickle.TUPLE1 + pickle.NEWOBJ,
    "ndarray state of 72 GiB": _global("numpy.core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
    + pickle.MARK + pickle.BININT1 + b"\x00" + pickle.TUPLE + pickle.SHORT_BINBYTES + b"\x01b" + pickle.TUPLE3
    + pickle.REDUCE + pickle.MARK + pickle.BININT1 + b"\x01" + _int(9 << 30) + pickle.TUPLE1
    + _global("numpy", "dtype") + pickle.SHORT_BINUNICODE + b"\x02f8" + pickle.TUPLE1 + pickle.REDUCE
    + pickle.NEWFALSE + pickle.SHORT_BINBYTES + b"\x00" + pickle.TUPLE + pickle.BUILD,
    "8 GiB bytes string": pickle.BINBYTES8 + (8 << 30).to_bytes(8, "little"),
}


@pytest.mark.parametrize("request_name", HUGE_REQUESTS)
def test_huge_allocations_are_refused_before_they_happen(tmp_path, request_name):
    path = tmp_path / "features.pkl"
    path.write_bytes(HUGE_REQUESTS[request_name] + pickle.STOP)
    with pytest.raises((ValueError, UnsafePickleError), match=str(path)) as info:
        safe_load(path)
    if request_name != "8 GiB bytes string":  # a length that the stream cannot back is simply truncated data
        assert isinstance(info.value, UnsafePickleError)
        assert "more than the 67,108,864 bytes allowed" in str(info.value)


def test_memo_index_does_not_allocate():
    # The C unpickler sizes its memo table by the largest index it sees: 2**31 would take 16 GiB.
    data = pickle.PROTO + b"\x02" + pickle.EMPTY_LIST + pickle.LONG_BINPUT + (2**31 - 1).to_bytes(4, "little")
    assert safe_load(io.BytesIO(data + pickle.STOP)) == []


def test_copies_of_a_memoised_string_are_charged(tmp_path):
    # One 100 kB string, then `_codecs.encode` on it 50 times: each call makes a new 100 kB copy.
    text = "x" * 100_000
    data = pickle.PROTO + b"\x02" + pickle.EMPTY_LIST + pickle.BINUNICODE + len(text).to_bytes(4, "little")
    data += text.encode() + pickle.BINPUT + b"\x01" + pickle.POP + pickle.MARK
    copy = _global("_codecs", "encode") + pickle.BINGET + b"\x01" + pickle.SHORT_BINUNICODE + b"\x06latin1"
    data += (copy + pickle.TUPLE2 + pickle.REDUCE) * 50 + pickle.APPENDS + pickle.STOP
    path = tmp_path / "labels.train"
    path.write_bytes(data)
    assert len(safe_load(path, max_bytes=10_000_000)) == 50
    with pytest.raises(UnsafePickleError, match=rf"Refusing to load {path}: it asks for 100,000 bytes"):
        safe_load(path, max_bytes=2_000_000)


def test_compression_bombs_are_refused(tmp_path, monkeypatch):
    path = tmp_path / "features.lzma"
    path.write_bytes(gzip.compress(pickle.dumps(np.zeros(2_000_000, np.uint8))))
    with pytest.raises(UnsafePickleError, match=rf"{path}: it decompresses to more than 1,000,000 bytes"):
        safe_load(path, max_bytes=1_000_000)
    monkeypatch.setenv("BEYONDGLOSS_MAX_PICKLE_BYTES", "1000000")
    with pytest.raises(UnsafePickleError, match="BEYONDGLOSS_MAX_PICKLE_BYTES"):
        safe_load(path)
    monkeypatch.setenv("BEYONDGLOSS_MAX_PICKLE_BYTES", "3000000")
    assert safe_load(path).shape == (2_000_000,)
    # Without an override the limit is 100 times the file (at least 64 MiB): 70 MiB of zeros is refused.
    monkeypatch.delenv("BEYONDGLOSS_MAX_PICKLE_BYTES")
    path.write_bytes(gzip.compress(pickle.dumps(np.zeros(70 << 20, np.uint8)), compresslevel=1))
    with pytest.raises(UnsafePickleError, match="more than the 67,108,864 bytes allowed"):
        safe_load(path)


@pytest.mark.parametrize("compression", ["lzma", "plain"])
def test_features_listing_one_memoised_row_are_refused_before_they_become_an_array(tmp_path, compression):
    # 2,000,000 references to one row of 288 floats: a 4 MB pickle (1 kB as lzma) that unpickles to a 16 MB list,
    # which np.asarray would expand to 4.6 GB.
    row = [0.1] * 288
    data = pickle.dumps({"features": [row] * 2_000_000})
    path = tmp_path / "video.lzma"
    path.write_bytes(lzma.compress(data) if compression == "lzma" else data)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidFileError) as info:
            read_hand_features(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"{path}: Refusing to load {path}: it holds 'features' as nested lists [2000000, 288], ")
    size = path.stat().st_size
    limit = max(64 * 2**20, 100 * size)  # safe_load's limit for a file of that size
    assert f"an array of 4,608,000,000 bytes, more than the {limit:,} bytes allowed for a {size:,}-byte" in message
    assert message.endswith("raise the limit with the environment variable BEYONDGLOSS_MAX_PICKLE_BYTES.")
    assert peak < 300 * 2**20, peak
