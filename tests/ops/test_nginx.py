"""ops/nginx/vm-registry.conf and the compose file's copy of it, checked by Debian's nginx."""

from __future__ import annotations

import re
from pathlib import Path

from tests.ops.nginx import COMPOSE_SITE, SITE, Nginx, site
from tests.support import requires
from vm_registry.settings import Settings


def _stream_block(text: str) -> str:
    found = re.search(r"location = /registry/stream \{(.*?)\n    \}", text, re.DOTALL)
    assert found, "no location for /registry/stream"
    return found.group(1)


def _seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    nginx = Nginx(requires.nginx(), tmp_path, SITE.read_text())
    checked = nginx.test()
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_nginx_accepts_the_compose_config(tmp_path: Path) -> None:
    # Its upstream names only resolve inside the compose network: loopback ports stand in.
    text = site(COMPOSE_SITE.read_text(), [3001, 3002, 3003], 8080)
    checked = Nginx(requires.nginx(), tmp_path, text).test()
    assert checked.returncode == 0, checked.stderr


def test_the_compose_config_is_the_same_but_for_upstream_and_port() -> None:
    def body(text: str) -> str:
        return site(text[text.index("upstream vm_registry") :], [1], 1)

    assert body(COMPOSE_SITE.read_text()) == body(SITE.read_text())
    assert COMPOSE_SITE.read_text().count("server registry-") == 3


def test_the_feed_is_proxied_unbuffered_with_long_timeouts() -> None:
    text = SITE.read_text()
    assert "proxy_http_version 1.1;" in text
    assert 'proxy_set_header Connection "";' in text
    stream = _stream_block(text)
    assert "proxy_buffering off;" in stream
    assert "gzip off;" in stream
    read_timeout = re.search(r"proxy_read_timeout (\w+);", stream)
    assert read_timeout and _seconds(read_timeout.group(1)) >= 600


def test_the_body_limit_is_the_registrys() -> None:
    limit = re.search(r"client_max_body_size (\d+)m;", SITE.read_text())
    assert limit and int(limit.group(1)) * 1024 * 1024 == Settings().max_body_bytes
