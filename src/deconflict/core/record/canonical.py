"""RFC 8785 JSON Canonicalization Scheme (JCS) for the values events are made of.

Every party that checks a leaf must hash exactly the bytes the service hashed, whatever JSON library
it uses; JCS gives one byte string per value.  We implement the I-JSON subset our events use:
objects with string keys, arrays, strings, integers within the exactly representable range,
finite floats, booleans and null.  Anything else is refused rather than guessed at, because a
silently different serialization would only surface later as an unverifiable record.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_SAFE_INTEGER", "CanonicalizationError", "canonical_json", "parse_canonical"]

MAX_SAFE_INTEGER = (1 << 53) - 1
"""Largest integer every IEEE 754 double parser reads back exactly (I-JSON, RFC 7493 §2.2).

RFC 8785 §3.2.2.3 serializes numbers as doubles; a larger integer would silently change value in
a verifier written in JavaScript, so it is refused and should be sent as a string instead."""

_SHORT_ESCAPES = {
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}


_PLAIN = re.compile(r'[^\x00-\x1f"\\\ud800-\udfff]*')
"""Strings made only of these characters are written as they are: nearly every string an event
holds, which then need not be walked one character at a time."""


class CanonicalizationError(ValueError):
    """The value lies outside the JSON subset that JCS can serialize unambiguously."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``."""
    parts: list[str] = []
    _emit(value, parts, "$")
    return "".join(parts).encode("utf-8")


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must already be canonical JSON, as a verifier receives events.

    Numbers are read the way JCS sees them (every number is a double): an integer literal beyond
    the safe range becomes a float, so that ``36462343842611420`` (how JCS writes that double)
    reads back as the value that was hashed.  Duplicate keys, NaN and non-canonical spelling are
    refused, because hashing such bytes would commit to something other parties read differently.
    """
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            parse_int=_parse_int,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CanonicalizationError(f"not JSON: {exc}") from None
    if canonical_json(value) != data:
        raise CanonicalizationError("JSON is not in RFC 8785 canonical form")
    return value


def _parse_int(literal: str) -> int | float:
    number = int(literal)
    return number if abs(number) <= MAX_SAFE_INTEGER else float(literal)


def _refuse_constant(name: str) -> Any:
    raise CanonicalizationError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in pairs:
        if key in out:
            raise CanonicalizationError(f"duplicate key {key!r}")
        out[key] = item
    return out


def _emit(value: Any, out: list[str], path: str) -> None:
    # bool before int: True is an int in Python but a literal in JSON.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"{path}: integer outside ±(2^53 - 1)")
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_number(value, path))
    elif isinstance(value, str):
        out.append(_string(value, path))
    elif isinstance(value, Mapping):
        _emit_object(value, out, path)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, out, f"{path}[{i}]")
        out.append("]")
    else:
        raise CanonicalizationError(f"{path}: {type(value).__name__} is not a JSON value")


def _emit_object(value: Mapping[Any, Any], out: list[str], path: str) -> None:
    for key in value:
        if not isinstance(key, str):
            raise CanonicalizationError(f"{path}: object key {key!r} is not a string")
    # RFC 8785 §3.2.3: compare keys as arrays of UTF-16 code units.  Big-endian UTF-16 bytes
    # compare exactly like their code units, surrogate pairs included.
    keys = sorted(value, key=lambda k: _utf16(k, path))
    out.append("{")
    for i, key in enumerate(keys):
        if i:
            out.append(",")
        out.append(_string(key, path))
        out.append(":")
        _emit(value[key], out, f"{path}.{key}")
    out.append("}")


def _utf16(key: str, path: str) -> bytes:
    try:
        return key.encode("utf-16-be")
    except UnicodeEncodeError:
        raise CanonicalizationError(f"{path}: key contains a lone surrogate") from None


def _string(value: str, path: str) -> str:
    """RFC 8785 §3.2.2.2: escape only what JSON requires, in the ECMAScript way."""
    if _PLAIN.fullmatch(value):
        return f'"{value}"'
    chunks = ['"']
    for ch in value:
        code = ord(ch)
        if code in _SHORT_ESCAPES:
            chunks.append(_SHORT_ESCAPES[code])
        elif code < 0x20:
            chunks.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            # I-JSON (RFC 7493 §2.1) forbids unpaired surrogates; they have no UTF-8 form anyway.
            raise CanonicalizationError(f"{path}: string contains a lone surrogate")
        else:
            chunks.append(ch)
    chunks.append('"')
    return "".join(chunks)


def _number(value: float, path: str) -> str:
    """ECMAScript Number::toString (ECMA-262 §7.1.12.1), as RFC 8785 §3.2.2.3 requires.

    Python's ``repr`` already yields the shortest digit string that reads back as the same double,
    and ties are resolved the same way; only the layout (where the point goes, when to switch to
    an exponent, the exponent's sign) differs, so we take the digits and lay them out anew.
    """
    if not math.isfinite(value):
        raise CanonicalizationError(f"{path}: NaN and infinities are not JSON numbers")
    if value == 0:
        return "0"  # Also for -0.0, per the ECMAScript rule.
    if value < 0:
        return "-" + _number(-value, path)
    digits, n = _shortest_digits(value)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exponent = n - 1
    sign = "+" if exponent >= 0 else "-"
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{sign}{abs(exponent)}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Digits ``s`` (no leading/trailing zeros) and ``n`` with ``value == 0.s × 10**n``."""
    text = repr(value)
    mantissa, _, exp = text.partition("e")
    exponent = int(exp) if exp else 0
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + exponent  # position of the decimal point within `digits`
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point
