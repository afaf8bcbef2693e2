"""A local OpenAI-compatible server for tests: chat completions, audio transcriptions, error and timeout modes."""

from __future__ import annotations

import json
import threading
import time

from tests.doubles.http import LocalServer, QuickHandler


class OpenAIDouble:
    """Serves /v1/chat/completions (non-streaming) and /v1/audio/transcriptions on 127.0.0.1.

    mode: "ok" | "error" (500) | "rate_limited" (429) | "unauthorised" (401) | "timeout" (holds the request
    until released) | "no_usage" (answers without a usage block, like some local servers).
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.answer = "Keep your PIN secret: never share it, cover the keypad, and change it if someone saw it."
        self.transcript = "How do I keep my PIN safe?"
        self.usage = (120, 40)
        self.finish_reason = "stop"  # "content_filter": the server's guardrail stopped the answer
        self.requests: list[dict] = []
        self.release = threading.Event()
        double = self

        class Handler(QuickHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": raw}
                if self.path.endswith("/chat/completions"):
                    record["json"] = json.loads(raw)
                double.requests.append(record)
                mode = double.mode
                if mode == "timeout":
                    double.release.wait(10)
                    return self._reply(200, double._completion(record))
                if mode == "error":
                    return self._reply(500, {"error": {"message": "model crashed", "type": "server_error"}})
                if mode == "rate_limited":
                    return self._reply(429, {"error": {"message": "slow down", "type": "rate_limit"}})
                if mode == "unauthorised":
                    return self._reply(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
                if self.path.endswith("/audio/transcriptions"):
                    return self._reply(200, {"text": double.transcript})
                if self.path.endswith("/chat/completions"):
                    return self._reply(200, double._completion(record))
                return self._reply(404, {"error": {"message": f"no route {self.path}"}})

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout mode)

        self.server = LocalServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def chat_requests(self) -> list[dict]:
        return [r["json"] for r in self.requests if "json" in r]

    def _completion(self, record: dict) -> dict:
        body = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": record.get("json", {}).get("model", "test-model"),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": self.finish_reason,
                    "message": {"role": "assistant", "content": self.answer},
                }
            ],
        }
        if self.mode != "no_usage":
            prompt, completion = self.usage
            body["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return body

    def __enter__(self) -> OpenAIDouble:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
