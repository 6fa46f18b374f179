"""Write a Principal into a JSON token claim and read it back, losslessly and strictly.

The hub's access tokens carry who is acting, so the FHIR endpoint needs no session store and
every replica can check a token alone. The codec walks the dataclasses in cases/principals.py
rather than listing their fields, so a field added there travels in tokens without a change here;
a field of a type this codec does not know fails loudly in the round-trip tests instead.
Decoding is strict (unknown keys, wrong types and missing fields are errors): the claim is
trusted only after the signature is, but a strict reader keeps old or foreign tokens out.
https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from cases.principals import Citizen, Clinician, Guardian, Principal, RegionalSystem

PRINCIPAL_KINDS: dict[str, type[Any]] = {
    "citizen": Citizen,
    "guardian": Guardian,
    "clinician": Clinician,
    "system": RegionalSystem,
}


class PrincipalClaimError(ValueError):
    """A principal claim that does not describe exactly one Principal."""


def principal_to_claim(principal: Principal) -> dict[str, Any]:
    """Encode a principal as a JSON object: its kind plus every field that is not at its default."""
    if type(principal) not in PRINCIPAL_KINDS.values():
        raise TypeError(f"not a Principal: {type(principal).__name__}")
    return {"kind": principal.kind, **_encode(principal)}


def principal_from_claim(claim: object) -> Principal:
    """Decode a claim written by `principal_to_claim`; raise PrincipalClaimError on anything else."""
    if not isinstance(claim, Mapping):
        raise PrincipalClaimError("the principal claim is not a JSON object")
    kind = claim.get("kind")
    cls = PRINCIPAL_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise PrincipalClaimError(f"unknown principal kind {kind!r}")
    body = {k: v for k, v in claim.items() if k != "kind"}
    principal: Principal = _decode(cls, body, "principal")
    return principal


def _encode(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        out[f.name] = _encode_value(value, f.name)
    return out


def _encode_value(value: Any, name: str) -> Any:
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode(value)
    raise TypeError(f"field {name!r}: the principal codec cannot encode {type(value).__name__}")


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # principals.py uses postponed annotations; resolve them once per class.
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(cls: type[Any], data: object, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise PrincipalClaimError(f"{where} is not a JSON object")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    extra = sorted(set(data) - set(known))
    if extra:
        raise PrincipalClaimError(f"{where} has unknown field(s) {', '.join(extra)}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PrincipalClaimError(f"{where} lacks {name!r}")
            continue
        values[name] = _decode_value(hints[name], data[name], f"{where}.{name}")
    return cls(**values)


def _decode_value(hint: Any, value: object, where: str) -> Any:
    if hint is str:
        if not isinstance(value, str):
            raise PrincipalClaimError(f"{where} must be a string")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise PrincipalClaimError(f"{where} must be true or false")
        return value
    origin = typing.get_origin(hint)
    if origin is tuple and typing.get_args(hint) == (str, Ellipsis):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PrincipalClaimError(f"{where} must be a list of strings")
        return tuple(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"{where}: the principal codec does not decode unions")
    raise TypeError(f"{where}: the principal codec cannot decode {hint!r}")
