"""`lseprof report --format pprof -o FILE.pb.gz`: the classified samples as a pprof
profile (profile.proto, gzipped), for `go tool pprof` and continuous-profiling
backends.

One pprof sample per distinct whole stack and classification of the samples (its
frames named as ``lseprof report`` names them, :mod:`lseprof.analysis.stacks`), with
string labels that backends filter on: ``category`` (lseprof's category),
``helper_op``, ``helper_order``, ``atomics_path`` (``lse``, ``llsc``, ``flag``) and a
numeric ``helper_size`` (bytes). Function names are demangled, the recorded name
kept as ``system_name``.

The messages are built with the protobuf runtime from a descriptor made here
(profile.proto's field numbers), so no generated code and no protoc are needed.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from lseprof.analysis.stacks import Frame, StackSamples
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


def build_pprof(stacks: Sequence[StackSamples], event: str | None, comment: str = "") -> bytes:
    """The serialized (not yet gzipped) Profile of one event's stacks (see
    :func:`lseprof.analysis.stacks.stacks_of`): a pprof sample per stack and
    classification, its locations the whole stack, sampled frame first."""
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
    locations = _Locations(profile, s)
    # The heaviest object first: pprof names a profile after its first mapping.
    weights: dict[str, float] = {}
    for stack in stacks:
        weights[stack.frames[0].dso] = weights.get(stack.frames[0].dso, 0.0) + stack.weight
    for dso in sorted(weights, key=lambda d: -weights[d]):
        locations.mapping(dso)
    for stack in stacks:
        sample = profile.sample.add(
            location_id=[locations.of(f) for f in stack.frames],
            value=[stack.samples, round(stack.weight)],
        )
        for label, value in (
            ("category", stack.category),
            ("helper_op", stack.helper_op),
            ("helper_order", stack.helper_order),
            ("atomics_path", stack.helper_path),
        ):
            if value:
                sample.label.add(key=s(label), str=s(value))
        if stack.helper_size:
            sample.label.add(key=s("helper_size"), num=stack.helper_size, num_unit=s("bytes"))
    profile.string_table.extend(s.table)
    data: bytes = profile.SerializeToString()
    return data


class _Locations:
    """One pprof mapping per object, one function and location per (name, object)."""

    def __init__(self, profile: Any, strings: _Strings) -> None:
        self.profile, self.s = profile, strings
        self.mappings: dict[str, int] = {}
        self.ids: dict[tuple[str, str], int] = {}

    def mapping(self, dso: str) -> int:
        if dso not in self.mappings:
            self.mappings[dso] = len(self.mappings) + 1
            self.profile.mapping.add(
                id=self.mappings[dso], filename=self.s(dso or "[unknown]"), has_functions=True
            )
        return self.mappings[dso]

    def of(self, frame: Frame) -> int:
        key = (frame.raw, frame.dso)
        if key not in self.ids:
            mapping = self.mapping(frame.dso)
            fid = len(self.ids) + 1
            shown = frame.name
            if frame.raw == "[unknown]" and frame.dso:
                # pprof merges functions by name: unnamed code stays apart per object
                # (qemu's own half of an emulated run is "[unknown in qemu-aarch64]").
                shown = f"[unknown in {Path(frame.dso).name}]"
            self.profile.function.add(
                id=fid,
                name=self.s(shown),
                system_name=self.s(frame.raw),
                filename=self.s(frame.dso),
            )
            location = self.profile.location.add(id=fid, mapping_id=mapping)
            location.line.add(function_id=fid)
            self.ids[key] = fid
        return self.ids[key]


def write_pprof(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(gzip.compress(data, mtime=0))
    except OSError as exc:
        raise LseprofError(f"cannot write {path}: {exc.strerror}; pick another path") from None
