"""`lseprof report --format pprof -o FILE.pb.gz`: the classified samples as a pprof
profile (profile.proto, gzipped), for `go tool pprof` and continuous-profiling
backends.

One pprof sample per distinct (function, object, caller, classification) of the
samples table, its stack the sampled function and its caller (what the table
keeps), with string labels that backends filter on: ``category`` (lseprof's
category), ``helper_op``, ``helper_order``, ``atomics_path`` (``lse``, ``llsc``,
``flag``) and a numeric ``helper_size`` (bytes). Function names are demangled,
the recorded name kept as ``system_name``.

The messages are built with the protobuf runtime from a descriptor made here
(profile.proto's field numbers), so no generated code and no protoc are needed.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from lseprof.errors import LseprofError

# (message, [(field name, number, type, repeated)]) of profile.proto (the subset used).
_I64, _U64, _BOOL = "TYPE_INT64", "TYPE_UINT64", "TYPE_BOOL"
_MESSAGES: list[tuple[str, list[tuple[str, int, str, bool]]]] = [
    ("ValueType", [("type", 1, _I64, False), ("unit", 2, _I64, False)]),
    (
        "Label",
        [
            ("key", 1, _I64, False),
            ("str", 2, _I64, False),
            ("num", 3, _I64, False),
            ("num_unit", 4, _I64, False),
        ],
    ),
    (
        "Sample",
        [
            ("location_id", 1, _U64, True),
            ("value", 2, _I64, True),
            ("label", 3, ".perftools.profiles.Label", True),
        ],
    ),
    (
        "Mapping",
        [
            ("id", 1, _U64, False),
            ("memory_start", 2, _U64, False),
            ("memory_limit", 3, _U64, False),
            ("file_offset", 4, _U64, False),
            ("filename", 5, _I64, False),
            ("build_id", 6, _I64, False),
            ("has_functions", 7, _BOOL, False),
        ],
    ),
    ("Line", [("function_id", 1, _U64, False), ("line", 2, _I64, False)]),
    (
        "Location",
        [
            ("id", 1, _U64, False),
            ("mapping_id", 2, _U64, False),
            ("address", 3, _U64, False),
            ("line", 4, ".perftools.profiles.Line", True),
        ],
    ),
    (
        "Function",
        [
            ("id", 1, _U64, False),
            ("name", 2, _I64, False),
            ("system_name", 3, _I64, False),
            ("filename", 4, _I64, False),
        ],
    ),
    (
        "Profile",
        [
            ("sample_type", 1, ".perftools.profiles.ValueType", True),
            ("sample", 2, ".perftools.profiles.Sample", True),
            ("mapping", 3, ".perftools.profiles.Mapping", True),
            ("location", 4, ".perftools.profiles.Location", True),
            ("function", 5, ".perftools.profiles.Function", True),
            ("string_table", 6, "TYPE_STRING", True),
            ("period_type", 11, ".perftools.profiles.ValueType", False),
            ("period", 12, _I64, False),
            ("comment", 13, _I64, True),
        ],
    ),
]


@cache
def _profile_class() -> Any:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(
        name="lseprof_profile.proto", package="perftools.profiles", syntax="proto3"
    )
    fdp = descriptor_pb2.FieldDescriptorProto
    for name, fields in _MESSAGES:
        msg = proto.message_type.add(name=name)
        for fname, number, ftype, repeated in fields:
            field = msg.field.add(
                name=fname,
                number=number,
                label=fdp.LABEL_REPEATED if repeated else fdp.LABEL_OPTIONAL,
            )
            if ftype.startswith("."):
                field.type, field.type_name = fdp.TYPE_MESSAGE, ftype
            else:
                field.type = getattr(fdp, ftype)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


class _Strings:
    def __init__(self) -> None:
        self.table: list[str] = [""]  # index 0 is "" by the format's rule
        self.index: dict[str, int] = {"": 0}

    def __call__(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.table)
            self.table.append(text)
        return self.index[text]


_LABELS = (
    ("category", "category"),
    ("helper_op", "helper_op"),
    ("helper_order", "helper_order"),
    ("helper_path", "atomics_path"),
)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name].astype(object).fillna("").astype(str)
    return pd.Series([""] * len(frame), index=frame.index)


def build_pprof(
    samples: pd.DataFrame, event: str | None, readable: dict[str, str], comment: str = ""
) -> bytes:
    """The serialized (not yet gzipped) Profile of one event's classified samples;
    ``readable`` maps recorded names to the names shown."""
    profile = _profile_class()()
    s = _Strings()
    # Two values per sample: how many samples, and their weight (the period, which is
    # what lseprof's shares are of; nanoseconds for the clock events). pprof shows
    # the last type by default, so its shares are lseprof's.
    profile.sample_type.add(type=s("samples"), unit=s("count"))
    clock = bool(event) and str(event).startswith(("cpu-clock", "task-clock"))
    weight_type = profile.sample_type.add(
        type=s(event or "weight"), unit=s("nanoseconds" if clock else "count")
    )
    profile.period_type.type, profile.period_type.unit = weight_type.type, weight_type.unit
    if event:
        profile.comment.append(s(f"event {event}"))
    if comment:
        profile.comment.append(s(comment))
    cols = {
        name: _column(samples, name)
        for name in ("symbol", "dso", "caller", "caller_dso", *(c for c, _ in _LABELS))
    }
    sizes = (
        samples["helper_size"].fillna(0).astype(int)
        if "helper_size" in samples
        else pd.Series([0] * len(samples), index=samples.index)
    )
    weight = (
        samples["weight"].astype(float)
        if "weight" in samples
        else pd.Series([1.0] * len(samples), index=samples.index)
    )
    keyed = pd.DataFrame({**cols, "helper_size": sizes, "weight": weight})
    grouped = keyed.groupby(list(keyed.columns[:-1]), sort=False, observed=True)["weight"].agg(
        ["size", "sum"]
    )
    mappings: dict[str, int] = {}
    locations: dict[tuple[str, str], int] = {}
    # The heaviest object first: pprof names a profile after its first mapping.
    for dso in (
        keyed.groupby("dso", observed=True)["weight"].sum().sort_values(ascending=False).index
    ):
        mappings[str(dso)] = len(mappings) + 1
        profile.mapping.add(
            id=mappings[str(dso)], filename=s(str(dso) or "[unknown]"), has_functions=True
        )

    def location(name: str, dso: str) -> int:
        key = (name, dso)
        if key not in locations:
            if dso not in mappings:
                mappings[dso] = len(mappings) + 1
                profile.mapping.add(
                    id=mappings[dso], filename=s(dso or "[unknown]"), has_functions=True
                )
            fid = len(locations) + 1
            shown = readable.get(name, name) or "[unknown]"
            if shown == "[unknown]" and dso:
                # pprof merges functions by name: unnamed code stays apart per object
                # (qemu's own half of an emulated run is "[unknown in qemu-aarch64]").
                shown = f"[unknown in {Path(dso).name}]"
            profile.function.add(id=fid, name=s(shown), system_name=s(name), filename=s(dso))
            loc = profile.location.add(id=fid, mapping_id=mappings[dso])
            loc.line.add(function_id=fid)
            locations[key] = fid
        return locations[key]

    for key, count, total in zip(grouped.index, grouped["size"], grouped["sum"], strict=True):
        values = dict(zip(list(keyed.columns[:-1]), key, strict=True))
        stack = [location(values["symbol"], values["dso"])]
        if values["caller"]:
            stack.append(location(values["caller"], values["caller_dso"]))
        sample = profile.sample.add(location_id=stack, value=[int(count), round(total)])
        for col, label in _LABELS:
            if values[col]:
                sample.label.add(key=s(label), str=s(values[col]))
        if values["helper_size"]:
            sample.label.add(
                key=s("helper_size"), num=int(values["helper_size"]), num_unit=s("bytes")
            )
    profile.string_table.extend(s.table)
    data: bytes = profile.SerializeToString()
    return data


def write_pprof(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(gzip.compress(data, mtime=0))
    except OSError as exc:
        raise LseprofError(f"cannot write {path}: {exc.strerror}; pick another path") from None
