"""Read and write the lexical forms of FHIR primitive values, and say what went wrong where.

XML carries every primitive as text in a `value` attribute, while JSON carries booleans and
numbers natively; this module is the one place that maps between the two. Decimals are the
delicate case: by default they become `float`, like `orjson.loads` makes them on the JSON path,
so a resource reads the same whichever format it came in; pass `parse_decimal=decimal.Decimal`
to keep every digit (`1.50` stays `1.50`) and serialise with `json_default`.
https://hl7.org/fhir/R4/datatypes.html#primitive
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

ParseDecimal = Callable[[str], Any]

# Lexical forms from the R4 datatypes page; Python's own int()/Decimal() accept far more
# (whitespace, underscores, "NaN", "Infinity"), which FHIR does not.
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_UNSIGNED = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_POSITIVE = re.compile(r"\+?[1-9][0-9]*\Z")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

# How each primitive maps to JSON: as a string, a boolean, an integer or a decimal number.
STRING, BOOLEAN, INTEGER, DECIMAL = "s", "b", "i", "d"
_INTEGER_TYPES = {"integer": _INTEGER, "unsignedInt": _UNSIGNED, "positiveInt": _POSITIVE}


class FormatError(ValueError):
    """Report input that is not valid FHIR XML or JSON, with where it breaks.

    `location` is a FHIRPath-style path to the offending element (`Patient.name[0].given[1]`),
    or `line L, column C` when the document is not even well-formed; `line` is the source line
    when known. The HTTP layer turns this into an OperationOutcome.
    https://hl7.org/fhir/R4/operationoutcome.html
    """

    def __init__(self, message: str, location: str, *, line: int | None = None) -> None:
        super().__init__(message, location)
        self.message = message
        self.location = location
        self.line = line

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        if self.line is not None and not self.location.startswith("line "):
            where += f" (line {self.line})"
        return f"{self.message}{where}"


def json_kind(fhir_type: str) -> str:
    """Return how a primitive type is represented in JSON: STRING, BOOLEAN, INTEGER or DECIMAL."""
    if fhir_type == "boolean":
        return BOOLEAN
    if fhir_type in _INTEGER_TYPES or fhir_type == "integer64":
        return INTEGER
    if fhir_type == "decimal":
        return DECIMAL
    return STRING


def parse_value(text: str, fhir_type: str, kind: str, parse_decimal: ParseDecimal) -> Any:
    """Turn a `value` attribute into its JSON value, or raise ValueError saying why not."""
    if kind == STRING:
        return text
    if kind == BOOLEAN:
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueError(f"'{text}' is not a boolean (true or false)")
    if kind == DECIMAL:
        if _DECIMAL.match(text) is None:
            raise ValueError(f"'{text}' is not a decimal")
        if _INTEGER.match(text) is not None:
            return int(text)  # "185" is an int in JSON too, for orjson and json alike
        number = parse_decimal(text)
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"{text} is too large for a float; parse with Decimal to keep it")
        return number
    pattern = _INTEGER_TYPES.get(fhir_type, _INTEGER)
    if pattern.match(text) is None:
        raise ValueError(f"'{text}' is not a valid {fhir_type}")
    number = int(text)
    if fhir_type != "integer64" and not _INT32_MIN <= number <= _INT32_MAX:
        raise ValueError(f"{text} is out of range for {fhir_type} (32-bit)")
    return number


def format_value(value: Any, fhir_type: str, kind: str) -> str:
    """Turn a JSON value into the text of a `value` attribute, or raise ValueError."""
    if kind == STRING:
        if type(value) is str:
            return value
        if isinstance(value, str):
            return str(value)
    elif kind == BOOLEAN:
        if value is True:
            return "true"
        if value is False:
            return "false"
    elif isinstance(value, bool):
        pass  # bool is an int subclass, but true is no number in FHIR
    elif isinstance(value, int):
        return str(value)
    elif kind == DECIMAL:
        return _format_decimal(value)
    raise ValueError(f"expected {_A_JSON[kind]} for {fhir_type}, got {describe_json(value)}")


def _format_decimal(value: Any) -> str:
    """Write a decimal as short as it round-trips: repr() for floats, every digit for Decimal."""
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)
    raise ValueError(f"expected a finite number for decimal, got {describe_json(value)} {value!r}")


_A_JSON = {STRING: "a string", BOOLEAN: "true or false", INTEGER: "an integer", DECIMAL: "a number"}


def describe_json(value: Any) -> str:
    """Name a value's JSON type ("an array", "a string"), for messages to whoever sent it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def json_default(obj: Any) -> Any:
    """Serialise Decimal exactly for `orjson.dumps(..., default=json_default)`.

    orjson refuses Decimal; a Fragment splices its digits in as a JSON number, keeping the
    precision that `xml_to_json(..., parse_decimal=Decimal)` preserved.
    https://hl7.org/fhir/R4/json.html#primitive
    """
    if isinstance(obj, Decimal) and obj.is_finite():
        return orjson.Fragment(str(obj).encode())
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")
