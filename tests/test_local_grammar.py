"""The local backend's grammars in llama.cpp's own grammar engine, over every built-in action
schema: what they admit is a valid action, never cut by the token cap, and never outside what
llama-cpp-python's converter admitted before (so answers can only lose invalid forms).

Slow (llama.cpp; the grammar tests load the bundled model's vocabulary only); run under the
model lock."""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from action_schemas import builtin_action_models, longest_answer
from societas.llm.local import LocalModel, bundled_model_path, request_grammar
from societas.typing import Action, ChatMessage, LLMRequest, Sampling

pytestmark = pytest.mark.slow


class _Engine:
    """llama.cpp's grammar sampler over the bundled model's vocabulary."""

    def __init__(self, vocab_model: Any, gbnf: str) -> None:
        import llama_cpp

        self._lc = llama_cpp
        self.vocab = vocab_model.vocab
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.sampler = llama_cpp.llama_sampler_init_grammar(self.vocab, gbnf.encode(), b"root")
        assert self.sampler, gbnf
        self._data = (llama_cpp.llama_token_data * self.n_vocab)()
        self._view = np.frombuffer(
            self._data, dtype=np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        )
        self.eog = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self.vocab, t)}

    def allowed(self) -> np.ndarray[Any, Any]:
        """Token ids the grammar admits next (a full pass over the vocabulary)."""
        self._view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        self._view["logit"] = 0.0
        array = self._lc.llama_token_data_array(
            data=ctypes.cast(self._data, self._lc.llama_token_data_p),
            size=self.n_vocab,
            selected=-1,
            sorted=False,
        )
        self._lc.llama_sampler_apply(self.sampler, ctypes.byref(array))
        return self._view["id"][np.isfinite(self._view["logit"])].copy()

    def admits(self, token: int) -> bool:
        """Whether the grammar admits ``token`` next: the sampler applied to that one
        candidate (rejected candidates get a logit of -inf), not to the whole vocabulary."""
        one = (self._lc.llama_token_data * 1)()
        one[0].id = token
        one[0].logit = 0.0
        one[0].p = 0.0
        array = self._lc.llama_token_data_array(
            data=ctypes.cast(one, self._lc.llama_token_data_p), size=1, selected=-1, sorted=False
        )
        self._lc.llama_sampler_apply(self.sampler, ctypes.byref(array))
        return bool(np.isfinite(one[0].logit))

    def accept(self, token: int) -> None:
        self._lc.llama_sampler_accept(self.sampler, token)

    def close(self) -> None:
        self._lc.llama_sampler_free(self.sampler)


@pytest.fixture(scope="module")
def vocab() -> Iterator[Any]:
    """The bundled model's vocabulary only (no weights computed with)."""
    import llama_cpp
    from llama_cpp import _internals

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = _internals.LlamaModel(
        path_model=str(bundled_model_path()), params=params, verbose=False
    )
    yield model
    model.close()


_CLOSERS: dict[int, np.ndarray[Any, Any]] = {}


def _closers(vocab: Any) -> np.ndarray[Any, Any]:
    """Ids of the tokens made only of ``"``, ``}``, ``]``, ``,`` and spaces."""
    import llama_cpp

    if id(vocab) in _CLOSERS:
        return _CLOSERS[id(vocab)]
    n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab.vocab))
    ids = []
    for t in range(n_vocab):
        piece = vocab.token_to_piece(t, special=False)
        if piece and set(piece) <= set(b'"}], '):
            ids.append(t)
    _CLOSERS[id(vocab)] = np.asarray(ids)
    return _CLOSERS[id(vocab)]


def _walk(vocab: Any, gbnf: str, rng: np.random.Generator, limit: int) -> list[int]:
    """Tokens drawn among those the grammar admits at each step (uniformly, or with
    probability 1/3 among the admitted closing tokens, so that walks end), until it admits the
    end of turn (taken with probability 1/4) or ``limit`` steps."""
    engine = _Engine(vocab, gbnf)
    closers = _closers(vocab)
    out: list[int] = []
    try:
        for _ in range(limit):
            allowed = engine.allowed()
            assert allowed.size, f"dead end after {out}"
            ends = engine.eog & set(allowed.tolist())
            if ends and (rng.random() < 0.25 or allowed.size == len(ends)):
                return out
            choices = np.setdiff1d(allowed, np.asarray(sorted(engine.eog)))
            closing = np.intersect1d(choices, closers)
            if closing.size and rng.random() < 1 / 3:
                choices = closing
            token = int(rng.choice(choices))
            engine.accept(token)
            out.append(token)
        return out
    finally:
        engine.close()


def _admits(vocab: Any, gbnf: str, tokens: list[int]) -> bool:
    """Does the grammar admit ``tokens`` one by one and then the end of turn?"""
    engine = _Engine(vocab, gbnf)
    try:
        for token in tokens:
            if not engine.admits(token):
                return False
            engine.accept(token)
        return any(engine.admits(t) for t in engine.eog)
    finally:
        engine.close()


def _old_grammar(schema: dict[str, Any]) -> str:
    """llama-cpp-python's own grammar for ``schema`` (the local backend's before)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(schema))


MODELS = builtin_action_models()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_what_the_grammar_admits_is_valid_within_the_cap_and_was_admitted_before(
    model: type[Action], vocab: Any
) -> None:
    schema = model.json_schema()
    built = request_grammar(schema)
    assert built.max_tokens is not None, "every built-in schema has a longest answer"
    old = _old_grammar(schema)
    rng = np.random.default_rng(7)
    for _ in range(3):
        tokens = _walk(vocab, built.gbnf, rng, limit=built.max_tokens + 50)
        assert len(tokens) < built.max_tokens, (model.__name__, len(tokens))
        text = vocab.detokenize(tokens, special=False).decode("utf-8")
        json.loads(text)  # strict JSON: no raw control characters
        model.model_validate_json(text)
        assert _admits(vocab, old, tokens), text


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_longest_answer_is_admitted_and_fits_the_cap(model: type[Action], vocab: Any) -> None:
    schema = model.json_schema()
    built = request_grammar(schema)
    assert built.max_tokens is not None
    text = longest_answer(schema)
    model.model_validate_json(text)
    tokens = vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    assert _admits(vocab, built.gbnf, tokens), text[:200]
    # the answer and the end of turn fit; a byte per token is the worst case
    assert len(text.encode("utf-8")) + 1 <= built.max_tokens


def test_raw_control_characters_are_refused(vocab: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"m": {"type": "string", "maxLength": 20}},
        "required": ["m"],
    }
    gbnf = request_grammar(schema).gbnf
    ok = vocab.tokenize(b'{"m": "a\\nb\\u0041"}', add_bos=False, special=False)
    raw = vocab.tokenize(b'{"m": "a\nb"}', add_bos=False, special=False)
    assert _admits(vocab, gbnf, ok)
    assert not _admits(vocab, gbnf, raw)
    assert _admits(vocab, _old_grammar(schema), raw)  # what llama-cpp-python's let through


def test_long_answers_are_not_cut() -> None:
    """A message of up to 200 characters with a request cap of 16 tokens: the cap comes from
    the schema, so the answer is finished, not cut."""
    model = LocalModel(n_threads=2)
    schema = {
        "type": "object",
        "properties": {"message": {"type": "string", "maxLength": 200}},
        "required": ["message"],
        "additionalProperties": False,
    }
    request = LLMRequest(
        messages=(
            ChatMessage(role="system", content="You write long letters."),
            ChatMessage(
                role="user",
                content="Write a message of exactly 200 characters about the sea. Answer as JSON.",
            ),
        ),
        json_schema=schema,
        sampling=Sampling(temperature=1.0, max_tokens=16),
        seed=1,
    )
    try:
        answer = model.generate_sync(request)
    finally:
        import asyncio

        asyncio.run(model.aclose())
    assert answer.finish_reason == "stop"
    assert answer.completion_tokens > 16
    value = json.loads(answer.text)
    assert len(value["message"]) <= 200
