"""Fetching stories from the web: article extraction, charsets, content types, limits, redirects and
the address rules, against a real HTTP server on 127.0.0.1 (no internet needed)."""

from __future__ import annotations

import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.errors import DocumentError
from index.loaders import LoadedDocument, decode_html, load_bytes
from index.web import (
    address_policy,
    canonical_url,
    fetch_document,
    is_public_address,
    source_name,
)
from tests.pdf_builder import build_pdf
from tests.web_server import PageServer, Reply, redirect, serve

PAGES = Path(__file__).parent / "data" / "pages"
ARTICLE_PATH = "/news/2024/05/14/harbor-bridge-reopens"
HTML = {"Content-Type": "text/html; charset=utf-8"}
LIMIT = 200_000  # bytes; "0.2 MB" in messages

BODY_PARAGRAPHS = [
    "The Elm Street harbor bridge will reopen to traffic on June 12, city engineers said on Monday, ending two"
    " years of detours for the 30,000 drivers who crossed it every day before it closed.",
    "Workers replaced all four steel spans and the concrete deck, a project that cost $48 million, about $6 million"
    " more than the council approved in 2022. Chief engineer Maria Okafor said corrosion beneath the old deck was"
    " worse than inspections had shown.",
    '"When we lifted the deck we found beams that had lost almost half their thickness," Okafor told reporters at'
    ' the site. "There was no safe way to patch them, so we replaced them."',
    "The bridge will open first to cars and buses, with the new protected bike lane following in July once its"
    " railings are installed. The city will hold a ribbon-cutting ceremony at 9 a.m. on the opening day.",
    "The council will vote next month on whether to add tolls during rush hour to repay part of the overrun, a"
    " proposal that the mayor has said she opposes.",
]
BOILERPLATE = [
    "Local News",  # navigation menu
    "City Hall Politics",
    "Subscribe Today",
    "Search the Ledger",
    "cookies",  # cookie banner
    "Manage preferences",
    "Morning Briefing",  # newsletter box
    "newsletter",
    "Sign me up",
    "Related stories",  # related and most-read lists
    "Ferry timetable expanded",
    "Harbor Row shops count the cost",
    "Council approves extra funds",
    "Most read",
    "Riverton rowers",
    "Share on Facebook",  # share tools, breadcrumbs, tags
    "Transport Reporter",
    "About the Ledger",  # footer
    "Privacy policy",
    "All rights reserved",
]
HEADLINE = "Harbor bridge to reopen in June after two years of repairs"


def _hops(count: int) -> dict[str, Reply]:
    """/hop/N redirects to /hop/N-1, and /hop/0 to the article: N+1 redirects in all."""
    routes = {f"/hop/{n}": redirect(f"/hop/{n - 1}") for n in range(1, 10)}
    routes["/hop/0"] = redirect(ARTICLE_PATH, status=301)
    return routes


def _routes() -> dict[str, Reply]:
    article = (PAGES / "news-article.html").read_bytes()
    plain = "Ferry notes.\nThe ferry leaves at nine and returns at five."
    pdf = build_pdf(["Petro will meet Trump on February 3.", "The meeting is official."])
    return {
        ARTICLE_PATH: Reply(article, headers=HTML),
        "/cafe": Reply((PAGES / "cp1252-article.html").read_bytes(), headers={"Content-Type": "text/html"}),
        "/metro": Reply((PAGES / "latin1-nocharset.html").read_bytes(), headers={"Content-Type": "text/html"}),
        "/untyped-page": Reply(article),
        "/gzipped": Reply(gzip.compress(article), headers={**HTML, "Content-Encoding": "gzip"}),
        "/bomb": Reply(gzip.compress(b" " * (4 * LIMIT)), headers={**HTML, "Content-Encoding": "gzip"}),
        "/missing": Reply(b"<h1>Not found</h1>", status=404, headers=HTML),
        "/broken": Reply(b"oops", status=500, headers={"Content-Type": "text/plain"}),
        "/slow": Reply(article, headers=HTML, delay=5),
        "/drip": Reply(article, headers=HTML, content_length=False, chunk=64, drip=0.05),
        "/drip-headers": Reply(article, headers=HTML, header_drip=0.02),
        "/logo.png": Reply(b"\x89PNG\r\n\x1a\n" + bytes(200), headers={"Content-Type": "image/png"}),
        "/archive.zip": Reply(b"PK\x03\x04" + bytes(200), headers={"Content-Type": "application/zip"}),
        "/blob": Reply(b"\x00\x01\x02binary" * 20, headers={"Content-Type": "application/octet-stream"}),
        "/download": Reply(pdf, headers={"Content-Type": "application/octet-stream"}),
        "/big": Reply(b"<p>" + b"word " * LIMIT + b"</p>", headers=HTML),
        "/big-unannounced": Reply(b"<p>" + b"word " * LIMIT + b"</p>", headers=HTML, content_length=False),
        "/empty": Reply(b"", headers=HTML),
        "/story.pdf": Reply(pdf, headers={"Content-Type": "application/pdf"}),
        "/notes.txt": Reply(plain.encode(), headers={"Content-Type": "text/plain; charset=utf-8"}),
        "/notes.md": Reply(b"# Notes\n\nThe *ferry* leaves at nine.", headers={"Content-Type": "text/markdown"}),
        "/latin1.txt": Reply(
            "Caf\u00e9 cr\u00e8me.".encode("latin-1"), headers={"Content-Type": "text/plain; charset=ISO-8859-1"}
        ),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-intranet": redirect("http://intranet.example/admin"),
        "/to-loopback": redirect("http://127.0.0.2/"),
        "/to-file": redirect("file:///etc/passwd"),
        **_hops(9),
    }


@pytest.fixture(scope="module")
def server() -> Iterator[PageServer]:
    yield from serve(_routes())


def fetch(server: PageServer, path: str, **options: Any) -> LoadedDocument:
    """Fetch from the test server by its loopback address, so private addresses must be allowed."""
    settings: dict[str, Any] = {"max_bytes": LIMIT, "timeout": 10.0, "allow_private": True, **options}
    return fetch_document(server.url(path), **settings)


def _public_resolver(server: PageServer, calls: list[str] | None = None) -> Callable[[str, int], list[str]]:
    """DNS for a pretend internet: news.example is the test server; intranet.example is private."""
    table = {
        "news.example": ["127.0.0.1"],
        "intranet.example": ["10.0.0.7"],
        "mixed.example": ["127.0.0.1", "10.0.0.7"],
    }

    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def _test_server_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The default rule, except that 127.0.0.1 (the test server playing news.example) counts as public."""
    return str(address) == "127.0.0.1" or is_public_address(address)


def fetch_public(server: PageServer, path: str, calls: list[str] | None = None, **options: Any) -> LoadedDocument:
    """Fetch http://news.example:<port>/path with the default address rules (allow_private=False)."""
    settings: dict[str, Any] = {
        "max_bytes": LIMIT,
        "timeout": 10.0,
        "resolver": _public_resolver(server, calls),
        "address_allowed": _test_server_is_public,
        **options,
    }
    return fetch_document(server.url(path, host="news.example"), **settings)


def refused(call: Callable[[], object], match: str) -> str:
    """The DocumentError ``call`` raises: matching, one short line, no traceback."""
    with pytest.raises(DocumentError, match=match) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    assert len(message) < 200
    return message


# --- article extraction -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fetched", "uploaded"])
def test_article_keeps_the_story_and_drops_the_page_around_it(server: PageServer, how: str) -> None:
    if how == "fetched":
        document = fetch(server, ARTICLE_PATH)
    else:
        document = load_bytes((PAGES / "news-article.html").read_bytes(), "bridge.html")
    lines = document.text.split("\n")
    assert lines[0] == HEADLINE
    for paragraph in BODY_PARAGRAPHS:
        assert paragraph in lines  # each paragraph whole, on a line of its own
    for text in BOILERPLATE:
        assert text.lower() not in document.text.lower(), text
    assert document.title == HEADLINE


def test_extraction_never_touches_the_network() -> None:
    """trafilatura and its helpers must not download anything (word lists, TLD lists) when used."""
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise RuntimeError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from index.loaders import load_bytes\n"
        f"data = open({str(PAGES / 'news-article.html')!r}, 'rb').read()\n"
        "document = load_bytes(data, 'a.html', url='https://www.rivertonledger.example/news/bridge')\n"
        "assert 'Okafor' in document.text and 'cookies' not in document.text\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_page_without_an_article_falls_back_to_its_visible_text() -> None:
    assert load_bytes(b"<p>Only one short line.</p>", "tiny.html").text == "Only one short line."
    with pytest.raises(DocumentError, match="no readable text"):
        load_bytes(b"<html><head><title>Empty</title></head><body><script>x()</script></body></html>", "e.html")


# --- charsets ----------------------------------------------------------------------------------------


def test_a_charset_declared_only_in_a_meta_tag_is_honoured(server: PageServer) -> None:
    document = fetch(server, "/cafe")
    assert "Hélène Dupré" in document.text
    assert "le comptoir en zinc d’origine" in document.text  # ’ is 0x92: windows-1252, not Latin-1
    assert "Ã" not in document.text
    assert "\ufffd" not in document.text
    assert document.title == "Le café de la place rouvre ses portes"
    assert "Accueil" not in document.text
    assert "Mentions légales" not in document.text


def test_a_page_with_no_charset_at_all_is_detected(server: PageServer) -> None:
    document = fetch(server, "/metro")
    assert "después de casi seis años de construcción" in document.text
    assert "ń" not in document.text
    assert "\ufffd" not in document.text
    assert "Portada" not in document.text
    assert "derechos reservados" not in document.text


@pytest.mark.parametrize(
    ("data", "http_charset", "expected"),
    [
        ("café".encode(), None, "café"),
        ("café".encode("cp1252"), "windows-1252", "café"),
        ("\ufeffcafé".encode(), "iso-8859-1", "café"),  # a byte-order mark beats the header
        ('<meta charset="iso-8859-1"><p>caf\u00e9 \u2019'.encode("cp1252"), None, "café ’"),  # Latin-1 read as 1252
        ('<meta charset="iso-8859-1"><p>café'.encode(), "utf-8", "café"),  # the header beats the meta tag
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=koi8-r"><p>\u043c\u0438\u0440'.encode(
                "koi8-r"
            ),
            None,
            "мир",
        ),
        ('<meta charset="no-such-charset"><p>café'.encode(), None, "café"),
    ],
)
def test_html_decoding_order(data: bytes, http_charset: str | None, expected: str) -> None:
    assert expected in decode_html(data, http_charset)


# --- content types -----------------------------------------------------------------------------------


def test_pdf_text_and_markdown_use_their_loaders(server: PageServer) -> None:
    pdf = fetch(server, "/story.pdf")
    assert "Petro will meet Trump on February 3." in pdf.text
    assert pdf.source.endswith(".pdf")
    text = fetch(server, "/notes.txt")
    assert text.text == "Ferry notes.\nThe ferry leaves at nine and returns at five."
    assert text.source.endswith(".txt")
    assert fetch(server, "/notes.md").text == "# Notes\n\nThe *ferry* leaves at nine."
    assert fetch(server, "/latin1.txt").text == "Café crème."


def test_untyped_bodies_are_sniffed_only_when_unmistakable(server: PageServer) -> None:
    assert "Okafor" in fetch(server, "/untyped-page").text
    assert "February 3" in fetch(server, "/download").text  # octet-stream, but starts with %PDF-
    refused(lambda: fetch(server, "/blob"), r"unknown type \(application/octet-stream\)")


@pytest.mark.parametrize(("path", "kind"), [("/logo.png", "image/png"), ("/archive.zip", "application/zip")])
def test_other_types_are_refused_by_name(server: PageServer, path: str, kind: str) -> None:
    message = refused(lambda: fetch(server, path), "not a web page, PDF or text file")
    assert kind in message


def test_compressed_pages_are_decompressed(server: PageServer) -> None:
    assert BODY_PARAGRAPHS[0] in fetch(server, "/gzipped").text


def test_an_empty_page_is_an_error(server: PageServer) -> None:
    refused(lambda: fetch(server, "/empty"), "The page is empty")


# --- errors and limits -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "The page returned HTTP 404 (Not Found)."),
        ("/broken", "The page returned HTTP 500 (Internal Server Error)."),
    ],
)
def test_http_errors_name_the_status(server: PageServer, path: str, message: str) -> None:
    assert refused(lambda: fetch(server, path), "HTTP") == message


@pytest.mark.parametrize("path", ["/slow", "/drip", "/drip-headers"])
def test_the_timeout_bounds_the_whole_fetch(server: PageServer, path: str) -> None:
    """/slow answers after 5 s; /drip sends its body and /drip-headers its headers a little at a
    time, so no single read waits long: only a deadline for the whole fetch stops them. The fetch
    is abandoned, not left running: its worker thread ends too."""
    began = time.monotonic()
    refused(lambda: fetch(server, path, timeout=0.5), "took longer than 0.5 seconds")
    assert time.monotonic() - began < 3
    for _ in range(100):
        if not any(thread.name == "fetch-document" for thread in threading.enumerate()):
            break
        time.sleep(0.02)
    assert not any(thread.name == "fetch-document" for thread in threading.enumerate())


@pytest.mark.parametrize("path", ["/big", "/big-unannounced", "/bomb"])
def test_bodies_over_the_limit_are_refused(server: PageServer, path: str) -> None:
    """Announced by Content-Length, found while streaming, or only after decompression."""
    refused(lambda: fetch(server, path), r"larger than the 0\.2 MB limit")


def test_redirects_are_followed_up_to_the_limit(server: PageServer) -> None:
    assert HEADLINE in fetch(server, "/hop/4", max_redirects=5).text  # 5 redirects
    refused(lambda: fetch(server, "/hop/5", max_redirects=5), "redirected more than 5 times")
    refused(lambda: fetch(server, "/hop/0", max_redirects=0), "redirected more than 0 times")


def test_unknown_hosts_and_closed_ports_are_clear(server: PageServer) -> None:
    refused(
        lambda: fetch_document(
            "http://nowhere.example/", max_bytes=LIMIT, timeout=5, resolver=_public_resolver(server)
        ),
        r"^The host nowhere\.example could not be found\.$",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    refused(
        lambda: fetch_document(f"http://127.0.0.1:{closed_port}/", max_bytes=LIMIT, timeout=5, allow_private=True),
        r"^Could not connect to 127\.0\.0\.1\.$",
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/story.txt", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("example.com/story", "not a full web address"),
        ("http://", "not a full web address"),
        ("http://exa mple.com/", "not a valid web address"),
    ],
)
def test_only_http_and_https_addresses_are_fetched(url: str, message: str) -> None:
    refused(lambda: fetch_document(url, max_bytes=LIMIT, timeout=5), message)


# --- addresses ---------------------------------------------------------------------------------------

PRIVATE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.251",
    "240.0.0.1",
    "::1",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "fd00:ec2::254",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", PRIVATE)
def test_private_addresses_are_refused_unless_allowed(address: str) -> None:
    parsed = ipaddress.ip_address(address)
    assert not is_public_address(parsed)
    assert address_policy(allow_private=False)(parsed) is False
    assert address_policy(allow_private=True)(parsed) is True


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "10.0.0.1",
        "169.254.169.254",
        "localhost",
        "metadata.google.internal",
    ],
)
def test_fetching_a_private_address_is_refused_by_default(server: PageServer, host: str) -> None:
    url = f"http://{host}:{server.port}{ARTICLE_PATH}"
    before = len(server.seen)
    refused(lambda: fetch_document(url, max_bytes=LIMIT, timeout=5), "private or local network")
    assert len(server.seen) == before  # refused before connecting


def test_private_addresses_can_be_allowed(server: PageServer) -> None:
    assert HEADLINE in fetch_document(server.url(ARTICLE_PATH), max_bytes=LIMIT, timeout=10, allow_private=True).text
    assert (
        HEADLINE
        in fetch_document(
            server.url(ARTICLE_PATH, host="localhost"), max_bytes=LIMIT, timeout=10, allow_private=True
        ).text
    )


def test_connections_go_to_the_vetted_address_with_the_real_host_name(server: PageServer) -> None:
    """news.example exists only in the injected resolver, so reaching the server at all shows the
    connection used the address that was checked; the Host header still names the site."""
    calls: list[str] = []
    document = fetch_public(server, ARTICLE_PATH, calls)
    assert HEADLINE in document.text
    assert calls == ["news.example"]  # resolved once, by the check itself: nothing left to rebind
    assert server.seen[-1].host == f"news.example:{server.port}"
    assert document.url == server.url(ARTICLE_PATH, host="news.example")


def test_one_private_address_refuses_the_host(server: PageServer) -> None:
    refused(
        lambda: fetch_document(
            server.url("/", host="mixed.example"),
            max_bytes=LIMIT,
            timeout=5,
            resolver=_public_resolver(server),
            address_allowed=_test_server_is_public,
        ),
        "mixed.example is on a private or local network",
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/to-metadata", "169.254.169.254 is on a private or local network"),
        ("/to-intranet", "intranet.example is on a private or local network"),
        ("/to-loopback", "127.0.0.2 is on a private or local network"),
        ("/to-file", "redirected to a file: address"),
    ],
)
def test_every_redirect_hop_is_checked_again(server: PageServer, path: str, message: str) -> None:
    """The first hop is a public site (news.example); where it redirects to is checked all the same."""
    refused(lambda: fetch_public(server, path), message)


def test_public_redirect_chains_are_followed(server: PageServer) -> None:
    calls: list[str] = []
    assert HEADLINE in fetch_public(server, "/hop/2", calls).text
    assert all(host == "news.example" for host in calls)


# --- names -------------------------------------------------------------------------------------------


def test_the_same_url_keeps_its_name_and_other_urls_get_their_own(server: PageServer) -> None:
    first = fetch(server, ARTICLE_PATH)
    again = fetch(server, ARTICLE_PATH + "?utm_source=newsletter#comments")
    assert first.source == again.source
    assert first.source.startswith("127.0.0.1-news-2024-05-14-harbor-bridge-reopens-")
    assert first.source.endswith(".html")
    assert "/" not in first.source
    moved = fetch(server, "/hop/0")  # the same page (same title) reached from another address
    assert moved.title == first.title
    assert moved.source != first.source


def test_source_names_are_readable_stable_and_distinct() -> None:
    url = "https://www.example.com/world/2024/05/14/bridge-reopens.html?id=7"
    name = source_name(url, ".html")
    assert name.startswith("example.com-world-2024-05-14-bridge-reopens-")
    assert name.endswith(".html")
    for same in (
        "http://example.com/world/2024/05/14/bridge-reopens.html?id=7&utm_campaign=x",
        "https://WWW.EXAMPLE.COM/world/2024/05/14/bridge-reopens.html?id=7#top",
    ):
        assert source_name(same, ".html") == name
    for other in (
        "https://www.example.com/world/2024/05/14/bridge-reopens.html?id=8",
        "https://www.example.com/world/2024/05/14/bridge-reopens",
        "https://example.org/world/2024/05/14/bridge-reopens.html?id=7",
    ):
        assert source_name(other, ".html") != name
    assert canonical_url("https://www.example.com/a/?fbclid=1&q=2") == "example.com/a?q=2"
    assert source_name("https://example.com/", ".html").startswith("example.com-")
    assert len(source_name("https://example.com/" + "long-words/" * 40, ".html")) < 100


@given(st.text(max_size=300))
def test_source_names_are_always_file_name_safe(path: str) -> None:
    name = source_name("https://example.com/" + quote(path, safe="/"), ".txt")
    assert "/" not in name
    assert name.endswith(".txt")
    assert len(name) < 110
    assert all(char.isascii() and (char.isalnum() or char in ".-") for char in name)


# --- https -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for news.example (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=news.example",
            "-addext",
            "subjectAltName=DNS:news.example",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return folder


def test_https_checks_the_certificate_against_the_host_name(certificate: Path) -> None:
    """The connection goes to the vetted address, yet TLS still names news.example (SNI) and checks
    the certificate against it; a name the certificate does not cover is refused."""
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    trusted = ssl.create_default_context(cafile=str(certificate / "cert.pem"))
    article = (PAGES / "news-article.html").read_bytes()
    with PageServer({ARTICLE_PATH: Reply(article, headers=HTML)}, tls=served) as tls_server:
        table = {"news.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}
        options: dict[str, Any] = {
            "max_bytes": LIMIT,
            "timeout": 10.0,
            "resolver": lambda host, port: table[host],
            "address_allowed": _test_server_is_public,
            "ssl_context": trusted,
        }
        document = fetch_document(tls_server.url(ARTICLE_PATH, host="news.example"), **options)
        assert HEADLINE in document.text
        refused(
            lambda: fetch_document(tls_server.url(ARTICLE_PATH, host="other.example"), **options),
            "could not be verified",
        )
