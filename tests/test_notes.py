"""C2SP signed notes, checkpoints and cosignatures, and RFC 8785 canonical JSON."""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from deconflict.core.record.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalizationError,
    canonical_json,
    parse_canonical,
)
from deconflict.core.record.merkle import MerkleTree, leaf_hash
from deconflict.core.record.notes import (
    Checkpoint,
    Cosigner,
    InvalidSignatureError,
    MalformedKeyError,
    MalformedNoteError,
    NoteError,
    Signer,
    UnverifiedNoteError,
    Verifier,
    cosign,
    cosignature_message,
    key_id,
    open_checkpoint,
    open_note,
    sign_note,
    verify_cosignature,
    verify_cosignatures,
)

# --- vectors from the specifications and golang.org/x/mod/sumdb/note ----------------------------

# c2sp.org/signed-note, "Example".
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# golang.org/x/mod/sumdb/note tests.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33"
    "WWd1RvMc+QQ=\n"
)

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature examples.
SPEC_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SPEC_COSIGNATURE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBk"
    "BIfZ+qnA=="
)


def test_spec_example_note_verifies() -> None:
    assert open_note(SPEC_NOTE, [Verifier.from_key(SPEC_VKEY)]) == (
        "This is an example message.\n",
        ("example.com/foo",),
    )


def test_go_signer_produces_the_go_signature() -> None:
    signer = Signer.from_private_key_string(PETER_SKEY)
    assert signer.verifier_key() == PETER_VKEY
    assert signer.private_key_string() == PETER_SKEY
    assert sign_note(PETER_TEXT, [signer]) == PETER_TEXT + "\n" + PETER_SIG


def test_go_open_cases() -> None:
    peter, enoch = Verifier.from_key(PETER_VKEY), Verifier.from_key(ENOCH_VKEY)
    note = PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, [peter]) == (PETER_TEXT, ("PeterNeumann",))
    assert open_note(note, [peter, enoch]).signers == ("PeterNeumann", "EnochRoot")
    assert open_note(note.encode(), [enoch, enoch]).signers == ("EnochRoot",)
    with pytest.raises(UnverifiedNoteError):
        open_note(note, [])
    with pytest.raises(MalformedNoteError, match="more than"):
        open_note(PETER_TEXT + "\n" + PETER_SIG * 101, [peter])
    corrupted = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignatureError):
        open_note(PETER_TEXT + "\n" + corrupted, [peter])
    # A blank line belongs to the text when it is not the last one: the signature then fails.
    with pytest.raises(InvalidSignatureError):
        open_note(PETER_TEXT + "\n\n" + PETER_SIG, [peter])
    # Unknown and even broken signatures from unknown keys are ignored, as the spec requires.
    broken_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    assert open_note(note + broken_enoch, [peter]).signers == ("PeterNeumann",)


@pytest.mark.parametrize(
    "text",
    [
        PETER_TEXT,
        PETER_TEXT + "\n",
        PETER_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + PETER_TEXT + "\n" + PETER_SIG,
        PETER_TEXT + "\n" + "— Bad Name" + PETER_SIG[len("— PeterNeumann") :],
        PETER_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        PETER_TEXT + "\n" + PETER_SIG.replace("—", "-"),
        PETER_TEXT + "\n" + PETER_SIG.replace(" x08", "  x08"),
        PETER_TEXT + "\n" + PETER_SIG.replace("AM=", "AM"),
        PETER_TEXT + "\n" + PETER_SIG.replace("AM=", "AN="),  # non-canonical base64
        PETER_TEXT + "\n" + "— PeterNeumann AAAA\n",
        PETER_TEXT + "\r\n" + PETER_SIG,
    ],
)
def test_malformed_notes_are_rejected(text: str) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(text, [Verifier.from_key(PETER_VKEY)])


def test_non_utf8_note_is_rejected() -> None:
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        open_note(
            b"\xff" + (PETER_TEXT + "\n" + PETER_SIG).encode(), [Verifier.from_key(PETER_VKEY)]
        )


@pytest.mark.parametrize("vkey", [PETER_VKEY, SPEC_VKEY])
def test_every_mangled_verifier_key_is_rejected(vkey: str) -> None:
    """Like the Go test: every proper substring and every single-character change fails."""
    assert Verifier.from_key(vkey).vkey == vkey
    candidates = [vkey[i:j] for i in range(len(vkey)) for j in range(i + 1, len(vkey) + 1)]
    candidates.remove(vkey)
    candidates += [vkey[:i] + chr(ord(c) + 1) + vkey[i + 1 :] for i, c in enumerate(vkey)]
    for candidate in candidates:
        with pytest.raises(MalformedKeyError):
            Verifier.from_key(candidate)


def test_every_mangled_private_key_is_rejected() -> None:
    changed = [
        PETER_SKEY[:i] + chr(ord(c) + 1) + PETER_SKEY[i + 1 :] for i, c in enumerate(PETER_SKEY)
    ]
    for candidate in [PETER_SKEY[:-1], PETER_SKEY[1:], "PRIVATE+KEY+x", *changed]:
        with pytest.raises(MalformedKeyError):
            Signer.from_private_key_string(candidate)
    with pytest.raises(MalformedKeyError):
        Cosigner.from_private_key_string(PETER_SKEY)  # a type 0x01 key is not a cosigner key


def test_key_id_construction() -> None:
    """C2SP signed-note: SHA-256(name || 0x0A || type || key)[:4], here checked by hand."""
    public = base64.b64decode(PETER_VKEY.split("+", 2)[2])[1:]
    assert key_id("PeterNeumann", 0x01, public).hex() == "c74f20a3"
    assert key_id("PeterNeumann", 0x04, public) != key_id("PeterNeumann", 0x01, public)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\nb"])
def test_bad_key_names_are_rejected(name: str) -> None:
    with pytest.raises(MalformedKeyError):
        Signer.generate(name)


def test_sign_note_refuses_bad_bodies() -> None:
    signer = Signer.generate("log.example")
    for body in ["", "no newline", "tab\there\n", "cr\r\n", "\ud800\n"]:
        with pytest.raises(MalformedNoteError):
            sign_note(body, [signer])
    with pytest.raises(ValueError, match="at least one"):
        sign_note("x\n", [])


def test_wrong_key_is_rejected() -> None:
    """A signature by another key, relabelled with the trusted key's name and id, fails."""
    trusted, forger = Signer.generate("log.example"), Signer.generate("log.example")
    note = sign_note("hello\n", [forger])
    with pytest.raises(UnverifiedNoteError):  # different key id: treated as unknown
        open_note(note, [trusted.verifier()])
    raw = base64.b64decode(note.split(" ")[-1])
    relabelled = note.replace(
        note.split(" ")[-1], base64.b64encode(trusted.key_id + raw[4:]).decode() + "\n"
    )
    with pytest.raises(InvalidSignatureError):
        open_note(relabelled, [trusted.verifier()])


# --- checkpoints ---------------------------------------------------------------------------------


def test_spec_checkpoint_round_trips() -> None:
    cp = Checkpoint.parse(SPEC_CHECKPOINT)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert cp.to_body() == SPEC_CHECKPOINT
    with_ext = Checkpoint(cp.origin, cp.size, cp.root_hash, ("ext one", "ext two"))
    assert Checkpoint.parse(with_ext.to_body()) == with_ext


ROOT_B64 = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="


@pytest.mark.parametrize(
    "body",
    [
        "",
        "origin\n",
        "origin\n5\n",
        f"origin\n5\n{ROOT_B64}",
        f"\n5\n{ROOT_B64}\n",
        f"origin\n05\n{ROOT_B64}\n",
        f"origin\n+5\n{ROOT_B64}\n",
        f"origin\n-5\n{ROOT_B64}\n",
        f"origin\n 5\n{ROOT_B64}\n",
        f"origin\n\u0665\n{ROOT_B64}\n",
        f"origin\n{2**64}\n{ROOT_B64}\n",
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n",
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
        "origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",
        "origin\n5\nAAAA\n",
        f"origin\n5\n{ROOT_B64} \n",
        f"origin\n5\n{ROOT_B64}\n\n",
        f"origin\n5\n{ROOT_B64}\next\n\n",
    ],
)
def test_malformed_checkpoints_are_rejected(body: str) -> None:
    with pytest.raises(MalformedNoteError):
        Checkpoint.parse(body)


def test_checkpoint_fields_are_validated() -> None:
    root = bytes(32)
    for args in [("", 1, root), ("a\nb", 1, root), ("o", -1, root), ("o", 2**64, root)]:
        with pytest.raises(MalformedNoteError):
            Checkpoint(*args)
    with pytest.raises(MalformedNoteError):
        Checkpoint("o", 1, root[:31])
    with pytest.raises(MalformedNoteError):
        Checkpoint("o", 1, root, ("",))


@pytest.fixture(scope="module")
def log() -> tuple[Signer, Cosigner, Checkpoint]:
    tree = MerkleTree()
    tree.extend(leaf_hash(bytes([i])) for i in range(5))
    checkpoint = Checkpoint("deconflict.example/log", tree.size, tree.root())
    return (
        Signer.generate("deconflict.example/log"),
        Cosigner.generate("witness.example/w1"),
        checkpoint,
    )


def _mutations(raw: bytes) -> list[bytes]:
    out = []
    for i in range(len(raw)):
        out.append(raw[:i] + raw[i + 1 :])
        for bit in range(8):
            out.append(raw[:i] + bytes([raw[i] ^ (1 << bit)]) + raw[i + 1 :])
    return out


def test_every_single_byte_change_of_a_signed_checkpoint_is_rejected(
    log: tuple[Signer, Cosigner, Checkpoint],
) -> None:
    signer, _, checkpoint = log
    note = sign_note(checkpoint.to_body(), [signer]).encode()
    assert open_checkpoint(note, [signer.verifier()]) == (checkpoint, (signer.name,))
    for changed in _mutations(note):
        with pytest.raises(NoteError):
            open_checkpoint(changed, [signer.verifier()])


def test_cosigned_checkpoint_never_keeps_both_signers_after_a_change(
    log: tuple[Signer, Cosigner, Checkpoint],
) -> None:
    """With a witness line, a change to that line may turn it into an unknown (ignored)
    signature, which the spec allows; what must never happen is that both still verify."""
    signer, witness, checkpoint = log
    body = checkpoint.to_body()
    note = (sign_note(body, [signer]) + cosign(body, witness, 1_700_000_000)).encode()
    keys = [signer.verifier(), witness.verifier()]
    both = (signer.name, witness.name)
    assert open_checkpoint(note, keys) == (checkpoint, both)
    for changed in _mutations(note):
        try:
            _, signers = open_checkpoint(changed, keys)
        except NoteError:
            continue
        assert signers != both


# --- cosignatures --------------------------------------------------------------------------------


def test_cosignature_message_matches_spec_example() -> None:
    assert cosignature_message(SPEC_CHECKPOINT, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_CHECKPOINT.encode()
    )
    # The spec's example line carries that same timestamp after its 4-byte key id.
    raw = base64.b64decode(SPEC_COSIGNATURE)
    assert len(raw) == 4 + 8 + 64
    assert struct.unpack(">Q", raw[4:12])[0] == 1679315147


def test_cosignature_layout_checked_independently(log: tuple[Signer, Cosigner, Checkpoint]) -> None:
    _, witness, checkpoint = log
    body = checkpoint.to_body()
    line = cosign(body, witness, 1679315147)
    name, encoded = line.removeprefix("— ").removesuffix("\n").split(" ")
    raw = base64.b64decode(encoded)
    assert name == witness.name
    assert raw[:4] == key_id(witness.name, 0x04, witness.public_key)
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    Ed25519PublicKey.from_public_bytes(witness.public_key).verify(raw[12:], message)
    assert (
        witness.verifier_key().split("+", 2)[2]
        == base64.b64encode(b"\x04" + witness.public_key).decode()
    )


def test_cosignature_round_trip_and_rejections(log: tuple[Signer, Cosigner, Checkpoint]) -> None:
    signer, witness, checkpoint = log
    body = checkpoint.to_body()
    line = cosign(body, witness, 1_700_000_000)
    v = witness.verifier()
    assert verify_cosignature(body, line, v) == 1_700_000_000
    other = Checkpoint(checkpoint.origin, checkpoint.size + 1, checkpoint.root_hash).to_body()
    with pytest.raises(InvalidSignatureError):
        verify_cosignature(other, line, v)
    with pytest.raises(InvalidSignatureError):
        verify_cosignature(body, line, Cosigner.generate(witness.name).verifier())
    with pytest.raises(MalformedKeyError):
        verify_cosignature(body, line, signer.verifier())
    # A changed timestamp invalidates the signature.
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    raw[11] ^= 1
    retimed = f"— {witness.name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(InvalidSignatureError):
        verify_cosignature(body, retimed, v)
    with pytest.raises(ValueError, match="timestamp"):
        cosign(body, witness, -1)
    with pytest.raises(ValueError, match="timestamp"):
        cosign(body, witness, 2**63)
    with pytest.raises(MalformedNoteError):
        cosign("not a checkpoint\n", witness, 1)


def test_verify_cosignatures_reports_known_witnesses(
    log: tuple[Signer, Cosigner, Checkpoint],
) -> None:
    signer, witness, checkpoint = log
    stranger = Cosigner.generate("witness.example/w2")
    body = checkpoint.to_body()
    note = sign_note(body, [signer]) + cosign(body, witness, 10) + cosign(body, stranger, 20)
    assert verify_cosignatures(note, [witness.verifier(), signer.verifier()]) == {witness.name: 10}
    assert open_note(note, [signer.verifier(), stranger.verifier()]).signers == (
        signer.name,
        stranger.name,
    )
    # The stranger's cosignature relabelled as the witness's (name and key id): must fail.
    raw = base64.b64decode(cosign(body, stranger, 10).split(" ")[-1])
    fake = f"— {witness.name} {base64.b64encode(witness.key_id + raw[4:]).decode()}\n"
    with pytest.raises(InvalidSignatureError):
        verify_cosignatures(sign_note(body, [signer]) + fake, [witness.verifier()])


# --- RFC 8785 canonical JSON ---------------------------------------------------------------------


def test_rfc8785_section_3_2_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    out = canonical_json(json.loads(source))
    assert out.decode() == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    # RFC 8785 §3.2.4 gives the same output as UTF-8 bytes.
    assert out.hex(" ") == (
        "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 75 65 2c 66 61 6c 73 65 5d "
        "2c 22 6e 75 6d 62 65 72 73 22 3a 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 "
        "2c 31 65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37 5d 2c 22 73 74 72 69 "
        "6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f "
        "22 7d"
    )


def test_rfc8785_section_3_2_3_sorting() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        ("0000000000000000", "0"),
        ("8000000000000000", "0"),
        ("0000000000000001", "5e-324"),
        ("8000000000000001", "-5e-324"),
        ("7fefffffffffffff", "1.7976931348623157e+308"),
        ("ffefffffffffffff", "-1.7976931348623157e+308"),
        ("4340000000000000", "9007199254740992"),
        ("c340000000000000", "-9007199254740992"),
        ("4430000000000000", "295147905179352830000"),
        ("44b52d02c7e14af5", "9.999999999999997e+22"),
        ("44b52d02c7e14af6", "1e+23"),
        ("44b52d02c7e14af7", "1.0000000000000001e+23"),
        ("444b1ae4d6e2ef4e", "999999999999999700000"),
        ("444b1ae4d6e2ef4f", "999999999999999900000"),
        ("444b1ae4d6e2ef50", "1e+21"),
        ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
        ("3eb0c6f7a0b5ed8d", "0.000001"),
        ("41b3de4355555553", "333333333.3333332"),
        ("41b3de4355555554", "333333333.33333325"),
        ("41b3de4355555555", "333333333.3333333"),
        ("41b3de4355555556", "333333333.3333334"),
        ("41b3de4355555557", "333333333.33333343"),
        ("becbf647612f3696", "-0.0000033333333333333333"),
        ("43143ff3c1cb0959", "1424953923781206.2"),
    ],
)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(value) == expected.encode()


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        2**53,
        -(2**53),
        10**30,
        "\ud800",
        {"\udc00": 1},
        {1: "non-string key"},
        b"bytes",
        {1, 2},
        object(),
        [1, [2, {"deep": math.nan}]],
    ],
)
def test_values_outside_i_json_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json(value)


def test_canonical_json_small_cases() -> None:
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    assert canonical_json(-(2**53 - 1)) == b"-9007199254740991"
    assert canonical_json([True, False, None, 1.0, -0.0, 1e21, 1e-7, 123e-9]) == (
        b"[true,false,null,1,0,1e+21,1e-7,1.23e-7]"
    )
    assert canonical_json({"b": [], "a": {}, "": ""}) == b'{"":"","a":{},"b":[]}'
    assert canonical_json("\u2028\x7f\x1f</") == '"\u2028\x7f\\u001f</"'.encode()
    assert canonical_json(("tuple", 1)) == b'["tuple",1]'


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53 - 1), 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_canonical_json_is_a_fixed_point_of_parsing(value: Any) -> None:
    """Reading our output back gives the same value, which re-canonicalizes to the same bytes:
    what a verifier that re-derives a leaf from a bundled event relies on."""
    out = canonical_json(value)
    parsed = parse_canonical(out)
    assert parsed == value
    assert canonical_json(parsed) == out
    assert json.loads(out) == value or _has_unsafe_integral_float(value)


def _has_unsafe_integral_float(value: Any) -> bool:
    """JCS writes e.g. 3.6e16 as ``36462343842611420``; plain ``json.loads`` reads an int."""
    if isinstance(value, float):
        return value.is_integer() and abs(value) > MAX_SAFE_INTEGER
    if isinstance(value, list):
        return any(_has_unsafe_integral_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_unsafe_integral_float(v) for v in value.values())
    return False


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a":1,"a":1}',
        b'{"a": 1}',
        b"1.0",
        b"1E+30",
        b"NaN",
        rb'"\u0041"',
        b"\xff",
        b"[1,]",
        b"9007199254740993",
    ],
)
def test_parse_canonical_refuses_non_canonical_bytes(data: bytes) -> None:
    with pytest.raises(CanonicalizationError):
        parse_canonical(data)


def test_parse_canonical_reads_large_doubles_as_doubles() -> None:
    assert parse_canonical(b"[36462343842611420,1e+30,5]") == [3.646234384261142e16, 1e30, 5]
