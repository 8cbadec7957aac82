"""Headless Chromium driven over the Chrome DevTools Protocol, standard library only.

Chromium's `--remote-debugging-pipe` speaks the protocol on its file descriptors 3 (commands
in) and 4 (replies and events out), one JSON message per NUL-terminated chunk: no websocket
client and no browser download are needed, only Debian's `chromium` package.
"""

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

INSTALL_HINT = "apt-get install -y chromium"
# What a root session on a machine with no display and no outside network needs.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]
COMMAND_SECONDS = 30.0


class BrowserError(RuntimeError):
    """Chromium is missing, exited, timed out, or answered a command with an error."""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One Chromium process; `open(url)` loads `url` in a new tab and returns it."""

    def __init__(self) -> None:
        executable = chromium_path()
        if executable is None:
            raise BrowserError(f"Chromium is not on PATH: {INSTALL_HINT}")
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        commands_in, self._commands = os.pipe()
        self._replies, replies_out = os.pipe()

        def pipes_as_fds_3_and_4() -> None:
            os.dup2(commands_in, 3)
            os.dup2(replies_out, 4)

        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=pipes_as_fds_3_and_4,
        )
        os.close(commands_in)
        os.close(replies_out)
        self._buffer = b""
        self._last_id = 0

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Run one protocol command (in a tab's `session`, if given) and return its result."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + COMMAND_SECONDS
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self._last_id:  # anything else is an event: not needed here
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(
        self, url: str, *, width: int = 800, height: int = 600, javascript: bool = True
    ) -> "Tab":
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tab = Tab(self, session)
        tab.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=width < 600,
        )
        tab.send("Emulation.setScriptExecutionDisabled", value=not javascript)
        tab.send("Page.navigate", url=url)
        return tab

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
        os.close(self._commands)
        os.close(self._replies)
        self._profile.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _read(self, deadline: float, method: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._replies], [], [], remaining)[0]:
                raise BrowserError(f"{method}: no answer from Chromium in {COMMAND_SECONDS} s")
            data = os.read(self._replies, 1 << 16)
            if not data:
                raise BrowserError(f"{method}: Chromium exited ({self._process.poll()})")
            self._buffer += data
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)


class Tab:
    """One page: evaluate script in it, wait for it, type into it, photograph it."""

    def __init__(self, browser: Browser, session: str) -> None:
        self._browser = browser
        self._session = session

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self._browser.send(method, self._session, **params)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, condition: str, seconds: float = 15.0) -> None:
        """Wait until the JavaScript expression `condition` is true in the page."""
        deadline = time.monotonic() + seconds
        while not self.evaluate(f"document.readyState === 'complete' && !!({condition})"):
            if time.monotonic() > deadline:
                raise BrowserError(f"Not true after {seconds} s: {condition}\n{self.text()}")
            time.sleep(0.05)

    def text(self) -> str:
        """What the page shows, as a reader sees it (hidden elements left out)."""
        return self.evaluate("document.body.innerText")

    def press(self, key: str, code: str, key_code: int, text: str = "") -> None:
        for event in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=event,
                key=key,
                code=code,
                windowsVirtualKeyCode=key_code,
                **({"text": text} if text and event == "keyDown" else {}),
            )

    def type(self, text: str) -> None:
        self.send("Input.insertText", text=text)

    def screenshot(self, path: Path) -> None:
        """What the tab's viewport shows, as a PNG."""
        shot = self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
