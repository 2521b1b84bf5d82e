"""The landing page in process (no lifespan: nothing is explained): its links to logged
traffic, which follow the configuration (``features.protected``, ``models.candidate``)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx

from examples.income import paths
from explainer_service.app import create_app
from explainer_service.settings import Settings

SECRET = "landing-secret-0123456789"
TOKEN = "landing-token-0123456789"


def landing(**config: Any) -> str:
    app = create_app(
        Settings(
            model={"url": "http://127.0.0.1:9/v2/models/m/infer", "retries": 0},
            data={"reference": paths.REFERENCE, "target": "loan"},
            service={"store": ":memory:"},
            **{"features": {"source": "reference"}, **config},
        )
    )

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            return await client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})

    response = asyncio.run(get())
    assert response.status_code == 200, response.text
    return response.text


def test_each_protected_attribute_links_to_its_fairness_page(income_files: Path) -> None:
    page = landing(
        features={
            "source": "reference",
            "protected": ["gender", "ethnicity"],
            "labels": {"ethnicity": "ethnic group"},
        }
    )
    links = re.findall(r'<a class="fairness" href="([^"]+)">([^<]+)</a>', page)
    assert links == [
        ("/fairness?attribute=gender&amp;window=7d", "Fairness by gender"),
        ("/fairness?attribute=ethnicity&amp;window=7d", "Fairness by ethnic group"),
    ]
    assert 'class="compare"' not in page  # no candidate configured


def test_no_protected_attribute_no_fairness_link(income_files: Path) -> None:
    page = landing()
    assert "/fairness" not in page and 'id="traffic"' not in page


def test_the_candidate_links_to_its_window_and_links_are_signed(income_files: Path) -> None:
    page = landing(
        features={"source": "reference", "protected": ["gender"]},
        models={"candidate": {"url": "http://127.0.0.1:9/v2/models/c/infer", "version": "2"}},
        auth={"tokens": [TOKEN], "link_secret": SECRET},
    )
    hrefs = dict(
        (kind, href)
        for kind, href in re.findall(r'<a class="(fairness|compare)" href="([^"]+)"', page)
    )
    assert hrefs["compare"].startswith("/compare/inferences?window=7d&amp;")
    assert hrefs["fairness"].startswith("/fairness?attribute=gender&amp;window=7d&amp;")
    assert all("sig=" in href for href in hrefs.values())
