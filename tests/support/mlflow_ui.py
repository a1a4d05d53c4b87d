"""``mlflow ui`` over an existing store, and Debian's Chromium driven by Playwright.

The browser is the system one (``/usr/bin/chromium``; no browser can be downloaded here),
headless, without its background networking; :class:`Browser` records every request a page
makes, so a test can check that none leaves loopback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Self

from tests.support.processes import ServiceProcess, answers_200
from tests.support.services import missing_service

__all__ = ["CHROMIUM", "Browser", "MlflowUi"]

CHROMIUM = "/usr/bin/chromium"


class MlflowUi(ServiceProcess):
    """``mlflow ui`` on a loopback port over ``backend_store_uri``."""

    name = "mlflow ui"

    def __init__(self, root: Path, backend_store_uri: str) -> None:
        super().__init__(root, startup_timeout=120)
        self.backend_store_uri = backend_store_uri

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            self.backend_store_uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def healthy(self) -> bool:
        return answers_200(f"{self.uri}/health")


class Browser:
    """Headless Chromium with one page; ``requests`` holds every URL it asked for."""

    def __init__(self, screenshots: Path) -> None:
        if not os.access(CHROMIUM, os.X_OK):
            missing_service(f"{CHROMIUM} not found: install the Debian package 'chromium'")
        self.screenshots = screenshots
        self.requests: list[str] = []
        self._playwright: Any = None

    def __enter__(self) -> Self:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        self.context = self._browser.new_context(viewport={"width": 1400, "height": 1000})
        # on the context: pages a link opens in a new tab are recorded too
        self.context.on("request", lambda request: self.requests.append(request.url))
        self.page = self.context.new_page()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._browser.close()
        self._playwright.stop()

    def shot(self, name: str, page: Any = None) -> Path:
        """A screenshot of the page (or of ``page``), saved under the screenshots folder."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        shown = page or self.page
        # MLflow 3.17 opens its Assistant side panel on a first visit; it would cover a third
        # of the screenshot. Looked for before every shot: a page a link opened may show it too.
        close = shown.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
        if close.count():
            close.first.click()
            close.first.wait_for(state="detached", timeout=10_000)
        shown.screenshot(path=str(path))
        return path
