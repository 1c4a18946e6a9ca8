"""A witness: follows a service's checkpoints and cosigns each one consistent with the last.

The witness is what stops a host from showing different histories to different parties
(DESIGN §5): it remembers the largest checkpoint it cosigned (``--state``), and cosigns a new
one only with a valid RFC 9162 consistency proof from it.  A checkpoint that is smaller, or of
the same size with another root, or that no proof connects, is evidence of a fork: the witness
refuses, keeps both notes, and says so loudly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from deconflict.core.record.leaves import b64, unb64
from deconflict.core.record.merkle import HASH_SIZE, ProofError, verify_consistency
from deconflict.core.record.notes import (
    Checkpoint,
    Cosigner,
    NoteError,
    Verifier,
    cosign,
    open_checkpoint,
)


class WitnessRefusal(Exception):
    """The service showed a checkpoint the witness must not cosign."""


@dataclass
class WitnessState:
    """What the witness remembers between runs (a small JSON file)."""

    log_key: str
    size: int = 0
    root_hash: str = ""
    note: str = ""

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(data["log_key"], data["size"], data["root_hash"], data.get("note", ""))

    def save(self, path: Path) -> None:
        """Write a new file and rename it over the old one, so a crash never leaves half a state."""
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        os.replace(temporary, path)


@dataclass
class Witness:
    http: httpx.Client
    cosigner: Cosigner
    state_path: Path
    clock: Callable[[], int]
    log_key: str | None = None

    def _get(self, path: str, **params: Any) -> httpx.Response:
        response = self.http.get(path, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
        return response

    def once(self) -> str:
        """Check and cosign the service's latest checkpoint; return what was done."""
        state = WitnessState.load(self.state_path)
        log_key = self.log_key or (state.log_key if state else None)
        if log_key is None:  # trust on first use, recorded in the state from now on
            log_key = self._get("/v1/record/key").text.strip()
        if state is not None and state.log_key != log_key:
            raise WitnessRefusal("the log key differs from the one in the witness state")
        note = self._get("/v1/record/checkpoint").text
        try:
            checkpoint, _ = open_checkpoint(note, [Verifier.from_key(log_key)])
        except NoteError as exc:
            raise WitnessRefusal(f"the checkpoint's signature does not verify: {exc}") from None
        if state is not None and state.size:
            self._check_consistent(state, checkpoint, note)
        body = checkpoint.to_body()
        line = cosign(body, self.cosigner, self.clock())
        WitnessState(log_key, checkpoint.size, b64(checkpoint.root_hash), body).save(
            self.state_path
        )
        response = self.http.post(
            f"/v1/record/checkpoints/{checkpoint.size}/cosignatures", json={"cosignature": line}
        )
        if response.status_code != 200:
            raise RuntimeError(
                f"the service refused the cosignature ({response.status_code}): "
                f"{response.text[:300]}"
            )
        return f"cosigned checkpoint {checkpoint.size} of {checkpoint.origin}"

    def _check_consistent(self, state: WitnessState, new: Checkpoint, note: str) -> None:
        old_root = unb64(state.root_hash, HASH_SIZE)
        evidence = f"\n--- last cosigned ---\n{state.note}--- now offered ---\n{note}"
        if new.size < state.size:
            raise WitnessRefusal(
                f"the log shrank from size {state.size} to {new.size}: history was rolled back"
                + evidence
            )
        if new.size == state.size:
            if new.root_hash != old_root:
                raise WitnessRefusal(
                    f"two different trees of size {new.size}: the log forked" + evidence
                )
            return
        proof = self._get("/v1/record/consistency", **{"from": state.size, "to": new.size}).json()
        try:
            hashes = [unb64(h, HASH_SIZE) for h in proof["hashes"]]
            verify_consistency(state.size, new.size, hashes, old_root, new.root_hash)
        except (KeyError, TypeError, ValueError, ProofError) as exc:
            raise WitnessRefusal(
                f"checkpoint {new.size} is NOT consistent with checkpoint {state.size} that this "
                f"witness cosigned ({exc}): the log forked or rewrote history" + evidence
            ) from None
