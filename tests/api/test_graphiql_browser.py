"""GraphiQL in a real browser, with every host but the server unreachable: the page loads from
the package's own files, the editor renders, and a query typed into it runs.

Headless Chromium (Debian's `chromium`, which .ci/run installs) driven by Playwright. Where
there is no browser the test is skipped, and the run says so in its header and its summary.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.settings import Settings
from tests.live import app_without_stores, chromium, loudly, playwright_missing, serving

# Nothing but the page: no update checks, no component downloads, no first-run pages.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
QUERY = "{ tiers { key } }"


async def test_graphiql_runs_a_typed_query_with_no_other_host_reachable(settings: Settings):
    missing = playwright_missing()
    if missing:
        pytest.skip(loudly(f"BROWSER TEST SKIPPED: {missing}"))
    from playwright.async_api import Request, Route, async_playwright, expect

    elsewhere: list[str] = []  # every request for another host, refused
    problems: list[str] = []  # script errors and console errors (a refused load shows there)

    async with app_without_stores(settings) as app, serving(app) as base:
        origin = urlsplit(base).netloc

        def local(url: str) -> bool:
            parts = urlsplit(url)
            return parts.scheme in ("data", "blob", "about") or parts.netloc == origin

        async def only_this_server(route: Route) -> None:
            if local(route.request.url):
                await route.continue_()
            else:
                elsewhere.append(route.request.url)
                await route.abort()

        def seen(request: Request) -> None:
            if not local(request.url):
                elsewhere.append(request.url)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium(), headless=True, args=CHROMIUM_ARGS
            )
            try:
                context = await browser.new_context()
                await context.route("**/*", only_this_server)
                page = await context.new_page()
                page.on("request", seen)
                page.on("websocket", lambda socket: elsewhere.append(socket.url))
                page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
                page.on(
                    "console",
                    lambda message: (
                        problems.append(f"console: {message.text}")
                        if message.type == "error"
                        else None
                    ),
                )

                response = await page.goto(f"{base}/graphql", wait_until="load")
                assert response is not None
                assert response.status == 200

                # The editor renders, and the schema arrives (the docs explorer needs it).
                editor = page.locator(".graphiql-query-editor .CodeMirror")
                await expect(editor).to_be_visible(timeout=20_000)

                await editor.click()
                await page.keyboard.press("Control+A")
                await page.keyboard.press("Delete")
                await page.keyboard.type(QUERY)
                typed = await page.evaluate(
                    "document.querySelector('.graphiql-query-editor .CodeMirror')"
                    ".CodeMirror.getValue()"
                )
                assert typed == QUERY, typed

                await page.locator(".graphiql-execute-button").click()
                result = page.locator(".graphiql-response")
                await expect(result).to_contain_text('"bronze"', timeout=10_000)
                shown: Any = await page.evaluate(
                    "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
                )
            finally:
                await browser.close()

    assert elsewhere == [], f"requests for other hosts: {elsewhere}"
    assert problems == [], problems
    assert json.loads(shown) == {
        "data": {"tiers": [{"key": "bronze"}, {"key": "silver"}, {"key": "gold"}]}
    }
