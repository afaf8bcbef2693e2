"""The model server behind the tutor: the `openai` client at [ai] base_url, so any compatible server works."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from coachbox.core.config import AiSettings

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam


class LlmError(Exception):
    """The model gave no answer. `transient` ones (timeout, 429, 5xx, connection) are worth retrying later."""

    def __init__(self, message: str, *, transient: bool, timeout: bool = False, latency_ms: int = 0):
        super().__init__(message)
        self.transient = transient
        self.timeout = timeout
        self.latency_ms = latency_ms


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: int
    refused: bool = False  # the server's guardrail stopped the answer (a refusal, or finish_reason content_filter)


def _estimate_tokens(text: str) -> int:
    # Some local servers (older llama.cpp, Ollama builds) omit `usage`; ~4 characters a token is the usual guess.
    return max(1, len(text) // 4)


class TutorLlm:
    """A thin wrapper: one sync client per process (the worker and helper threads call it; it is thread-safe)."""

    def __init__(self, ai: AiSettings, *, timeout: float | None = None):
        # lazy: the OpenAI client costs ~30 MB and only the tutor's calls need it
        import openai  # here, not at import: the web process only pays for it once the tutor is used

        self.ai = ai
        # max_retries=0: a slow model must not turn an 8 s timeout into 24 s; we retry from the worker instead.
        self._client = openai.OpenAI(
            base_url=ai.base_url,
            api_key=ai.api_key or "not-needed",
            timeout=timeout or ai.timeout_seconds,
            max_retries=0,
        )

    @property
    def configured(self) -> bool:
        return bool(self.ai.api_key)

    def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int = 300, timeout: float | None = None
    ) -> Completion:
        # lazy: the OpenAI client costs ~30 MB and only the tutor's calls need it
        import openai

        started = time.perf_counter()
        try:
            response = self._client.chat.completions.create(
                model=self.ai.model,
                # prompt.py builds only {"role": "system" | "user", "content": str} messages
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=max_tokens,
                temperature=0.3,
                stream=False,
                timeout=timeout if timeout else openai.NOT_GIVEN,  # not given: the client's own timeout
            )
        except openai.OpenAIError as exc:
            raise _translate(exc, started) from exc
        latency = _ms(started)
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        choice = response.choices[0] if response.choices else None
        refused = choice is not None and (
            choice.finish_reason == "content_filter" or bool(getattr(choice.message, "refusal", None))
        )
        if not text and not refused:
            raise LlmError("the model returned an empty answer", transient=True, latency_ms=latency)
        usage = response.usage
        prompt_text = " ".join(m["content"] for m in messages)
        return Completion(
            text=text,
            model=response.model or self.ai.model,
            tokens_in=usage.prompt_tokens
            if usage and usage.prompt_tokens is not None
            else _estimate_tokens(prompt_text),
            tokens_out=usage.completion_tokens
            if usage and usage.completion_tokens is not None
            else _estimate_tokens(text),
            latency_ms=latency,
            refused=refused,
        )

    def transcribe(self, path: Path, content_type: str, *, language: str | None = None) -> tuple[str, int]:
        """(text, latency in ms) of a voice note, through the same server's /audio/transcriptions."""
        # lazy: the OpenAI client costs ~30 MB and only the tutor's calls need it
        import openai

        started = time.perf_counter()
        try:
            with path.open("rb") as audio:
                result = self._client.audio.transcriptions.create(
                    model=self.ai.transcription_model,
                    file=(path.name, audio, content_type),
                    language=language if language else openai.omit,
                )
        except openai.OpenAIError as exc:
            raise _translate(exc, started) from exc
        return (getattr(result, "text", "") or "").strip(), _ms(started)

    def close(self) -> None:
        self._client.close()


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _translate(exc: Exception, started: float) -> LlmError:
    # lazy: the OpenAI client costs ~30 MB and only the tutor's calls need it
    import openai

    latency = _ms(started)
    if isinstance(exc, openai.APITimeoutError):
        return LlmError("the model server timed out", transient=True, timeout=True, latency_ms=latency)
    if isinstance(exc, openai.APIConnectionError):
        return LlmError(f"cannot reach the model server: {exc}", transient=True, latency_ms=latency)
    if isinstance(exc, openai.APIStatusError):
        transient = exc.status_code == 429 or exc.status_code >= 500
        return LlmError(
            f"model server answered {exc.status_code}: {exc.message}", transient=transient, latency_ms=latency
        )
    return LlmError(str(exc), transient=False, latency_ms=latency)
