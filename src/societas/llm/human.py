"""The ``human`` backend: a person takes an agent's seat (``societas run ... --human ID``).

A request for a seated agent is not sent to a model: the run writes it to the run
directory's seat folder and waits until a person answers it, from the dashboard's seat panel
or from ``societas seat RUN_DIR`` in another terminal. The answer is JSON text in the same
schema a model gets, checked against that schema before it is handed over, then read,
validated and recorded by the gateway exactly like a model's answer (``llm_call`` with model
``human``, prompt and answer in the store, answer in the response cache, so a replay of the
run answers for the person without asking again).

The seat folder, ``RUN_DIR/seat/``::

    pending/<id>.json   written by the run: the request (agent, purpose, messages, schema)
    answers/<id>.json   written by the person's tool: {"text": "<JSON answer>"}

Both are written to a temporary name and renamed into place, so a reader never sees half a
file. The run deletes both when it has read the answer, and the pending file when the request
is cancelled (for example at the end of a stopped run).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

from societas.typing import ConfigError, LLMRequest, LLMResponse

__all__ = [
    "HUMAN_MODEL_ID",
    "HumanModel",
    "SeatAnswerError",
    "SeatRequest",
    "answer_seat",
    "check_answer",
    "pending_requests",
    "seat_dir",
]

HUMAN_MODEL_ID = "human"
_ID_CHARS = frozenset("0123456789abcdef")


class SeatAnswerError(ConfigError):
    """An answer a person gave does not fit the request's schema (or names no request)."""

    def __init__(self, where: str, expected: str, got: object) -> None:
        super().__init__(where, "answer", expected, got)


class SeatRequest(BaseModel):
    """One decision waiting for a person."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    actor: str | None
    purpose: str
    messages: list[dict[str, str]]
    json_schema: dict[str, Any] | None
    created: float


def seat_dir(run_dir: Path) -> Path:
    return run_dir / "seat"


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_once(path: Path, data: dict[str, Any]) -> bool:
    """Write ``path`` whole, unless it exists: the first answer to a request wins (two
    people, or the dashboard and a terminal, answering at once). False if it existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.link(tmp, path)  # atomic, and fails if the name is taken
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def pending_requests(run_dir: Path) -> list[SeatRequest]:
    """The requests waiting for a person, oldest first (unreadable files are skipped)."""
    folder = seat_dir(run_dir) / "pending"
    found: list[SeatRequest] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            found.append(SeatRequest.model_validate_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # removed or replaced while we read: the next look sees it right
    return sorted(found, key=lambda r: (r.created, r.id))


def check_answer(request: SeatRequest, text: str) -> Any:
    """The parsed answer, or a ``SeatAnswerError`` saying what does not fit the schema."""
    where = f"seat answer to {request.id} ({request.actor or 'agent'}, {request.purpose})"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeatAnswerError(where, "a JSON value", f"{text[:80]!r} ({exc.msg})") from None
    if request.json_schema is not None:
        try:
            jsonschema.validate(value, request.json_schema)
        except jsonschema.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path) or "the answer"
            raise SeatAnswerError(
                f"{where}, {path}", f"a value the schema allows ({exc.message})", exc.instance
            ) from None
    return value


def answer_seat(run_dir: Path, request_id: str, text: str) -> None:
    """Hand a person's answer (JSON text) to the run waiting for it, after checking it."""
    if not request_id or set(request_id) - _ID_CHARS or len(request_id) > 64:
        raise SeatAnswerError("seat answer", "a request id from the seat folder", request_id)
    match = [r for r in pending_requests(run_dir) if r.id == request_id]
    if not match:
        raise SeatAnswerError(
            "seat answer", f"a request waiting in {seat_dir(run_dir) / 'pending'}", request_id
        )
    check_answer(match[0], text)
    if not _write_once(seat_dir(run_dir) / "answers" / f"{request_id}.json", {"text": text}):
        raise SeatAnswerError("seat answer", "a request not answered yet", request_id)


class HumanModel:
    """Answers each request by asking a person through the run's seat folder."""

    def __init__(self, run_dir: Path, *, poll_s: float = 0.2) -> None:
        self.model_id = HUMAN_MODEL_ID
        self.run_dir = run_dir
        self.poll_s = poll_s

    async def generate(self, request: LLMRequest) -> LLMResponse:
        request_id = request.cache_key(self.model_id)[:24]
        folder = seat_dir(self.run_dir)
        pending = folder / "pending" / f"{request_id}.json"
        answer = folder / "answers" / f"{request_id}.json"
        seat = SeatRequest(
            id=request_id,
            actor=request.actor,
            purpose=request.purpose,
            messages=[{"role": m.role, "content": m.content} for m in request.messages],
            json_schema=request.json_schema,
            created=time.time(),
        )
        await asyncio.to_thread(_write_atomically, pending, seat.model_dump(mode="json"))
        try:
            # Another process writes the answer: there is nothing to await but time.
            while not answer.exists():  # noqa: ASYNC110
                await asyncio.sleep(self.poll_s)
            text = str(json.loads(answer.read_text(encoding="utf-8"))["text"])
        finally:
            pending.unlink(missing_ok=True)
        answer.unlink(missing_ok=True)
        return LLMResponse(
            text=text,
            model=self.model_id,
            prompt_tokens=0,
            completion_tokens=0,
            finish_reason="stop",
            response_format=HUMAN_MODEL_ID,
        )

    async def aclose(self) -> None:
        return None
