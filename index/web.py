"""Fetch a story from the web, safely, and load it like an uploaded file.

Addresses. A URL names a host; the bot, not the person who pasted the URL, decides where to connect.
Every connection is opened by ``_GuardedBackend``, the network layer under httpx: it resolves the host
itself (every address getaddrinfo gives), refuses the connection unless *all* of them are public (not
private, loopback, link-local, multicast, reserved, unspecified, carrier-grade NAT 100.64/10, nor a
cloud metadata endpoint; IPv6 forms that embed an IPv4 address are judged by that address), and then
connects to one of those vetted IP addresses. Nothing resolves the name a second time, so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot move the connection, while the
URL, the Host header and TLS (SNI and certificate checking) keep the real host name untouched. Proxies
from the environment are ignored (a proxy would resolve the name itself), and redirects are followed by
hand, each hop's scheme and addresses checked again since its connection goes through the same backend.
``allow_private=True`` lifts the address rule for intranet use; tests pass their own ``resolver`` and
``address_allowed`` to play a public host on 127.0.0.1.

Time. ``timeout`` bounds the whole fetch (DNS, every redirect, the body), not each read: the fetch runs
in a worker thread the caller waits for at most that long, each network operation's own timeout is the
time left, and when time is up every socket the fetch opened is shut down so the worker ends at once.

Size. A Content-Length over ``max_bytes`` is refused before the body is read; otherwise the body is
streamed and refused as soon as it passes the limit (counted after decompression).

Names. A fetched document's ``source`` comes from its URL, not its title: titles change (and are
shared: two "Live updates" pages must not overwrite each other), so a name built from the title would
turn a re-fetch of the same page into a second document. The name is the host and the path's words
(readable, file-name safe, no "/", which the store reserves) plus a short hash of the normalized URL
(scheme, "www.", fragment, credentials, trailing slash and utm_*-style tracking parameters ignored),
and the suffix of the type served (.html, .pdf, .txt, .md). The same URL thus always gets the same
name and re-adding it updates the document in place; different URLs never share one. The title and
the URL as given are kept on the document.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
import socket
import ssl
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

import httpcore
import httpx

from index.errors import DocumentError
from index.loaders import LoadedDocument, load_bytes

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP address strings``; raises OSError (socket.gaierror) when the host is unknown."""
AddressPolicy = Callable[[IPAddress], bool]
"""Whether a connection to this address is allowed."""

DEFAULT_USER_AGENT = "story-bot/0.1 (reads news pages its users add)"
_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,text/markdown;q=0.8,*/*;q=0.1"
_SUFFIXES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
}
_UNTYPED = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Host names (IDNA already turned into ASCII) and IP literals; httpx would percent-encode the rest.
_HOST_NAME = re.compile(r"[a-z0-9_.-]+|[0-9a-f:.]+", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TRACKING = re.compile(r"(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid)", re.IGNORECASE)
_WEB_SUFFIX = re.compile(r"\.(html?|xhtml|shtml|php|aspx?|jsp|cms|pdf|txt|md)$", re.IGNORECASE)
_MAX_STEM = 80

T = TypeVar("T")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv6 one that reaches it (mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether an address is on the public internet: global unicast and no metadata endpoint. Checked
    property by property because ``is_global`` alone passes multicast and, on Python 3.11, fec0::/10."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    if address in _METADATA_ADDRESSES:
        return False
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )
    return address.is_global and not special


def _any_address(address: IPAddress) -> bool:
    return True


def address_policy(allow_private: bool) -> AddressPolicy:
    """The default rule: public addresses only, or every address when private ones are allowed."""
    return _any_address if allow_private else is_public_address


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for a host, IPv4 and IPv6, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _refused(host: str) -> DocumentError:
    return DocumentError(f"{host} is on a private or local network; story-bot only fetches public web pages.")


@dataclass(frozen=True, slots=True)
class _AddressGuard:
    """Decides which addresses a host name may be connected to."""

    resolver: Resolver
    allowed: AddressPolicy
    refuse_metadata_names: bool

    def vetted_addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, all of them allowed; one refused address refuses the host, since
        which of them a connection would use is the resolver's choice, not ours."""
        if self.refuse_metadata_names and host.lower().rstrip(".") in _METADATA_HOSTS:
            raise _refused(host)
        addresses = [host] if _ip(host) else self._resolve(host, port)
        for address in addresses:
            parsed = _ip(address)
            if parsed is None or not self.allowed(parsed):
                raise _refused(host)
        return addresses

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            addresses = list(self.resolver(host, port))
        except (OSError, UnicodeError):
            addresses = []
        if not addresses:
            raise DocumentError(f"The host {host} could not be found.")
        return addresses


@dataclass
class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network layer, connecting only to vetted addresses; every socket it opens can be
    shut down at once when the fetch runs out of time."""

    guard: _AddressGuard
    inner: httpcore.NetworkBackend = field(default_factory=httpcore.SyncBackend)
    sockets: list[socket.socket] = field(default_factory=list)
    aborted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in self.guard.vetted_addresses(host, port):
            if self.aborted:  # out of time while the resolver was still answering
                raise httpcore.ConnectError("the fetch was abandoned")
            try:
                stream = self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # unreachable address (an IPv6 route, say): try the next
                failure = exc
                continue
            self._track(stream.get_extra_info("socket"))
            return stream
        raise failure or httpcore.ConnectError(f"no address of {host} could be reached")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("story-bot fetches web addresses only")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)

    def _track(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.append(sock)
            if self.aborted:
                _shut(sock)

    def abort(self) -> None:
        """Shut down every connection (from another thread): a blocked read returns at once."""
        with self.lock:
            self.aborted = True
            for sock in self.sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _CoreStream(httpx.SyncByteStream):
    """An httpcore response body as httpx expects it."""

    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _GuardedTransport(httpx.BaseTransport):
    """httpx's transport over an httpcore pool whose connections all come from a guarded backend
    (httpx's own transport cannot be given a network backend)."""

    def __init__(self, backend: _GuardedBackend, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = httpcore.URL(
            scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port, target=request.url.raw_path
        )
        core = httpcore.Request(
            request.method, url, headers=request.headers.raw, content=request.stream, extensions=request.extensions
        )
        response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        stream = _CoreStream(response.stream)
        return httpx.Response(response.status, headers=response.headers, stream=stream, extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()


@dataclass(frozen=True, slots=True)
class _Plan:
    """One fetch's limits, fixed when it starts."""

    max_bytes: int
    timeout: float
    deadline: float
    max_redirects: int

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.timed_out()
        return left

    def timed_out(self) -> DocumentError:
        return DocumentError(f"The page took longer than {self.timeout:g} seconds to load.")

    def too_large(self) -> DocumentError:
        return DocumentError(f"The page is larger than the {round(self.max_bytes / 1_000_000, 2):g} MB limit.")


@dataclass(frozen=True, slots=True)
class _Fetched:
    suffix: str
    charset: str | None
    body: bytes


def _parse_url(url: str) -> httpx.URL:
    """The URL to fetch, without fragment or credentials; only http and https are accepted."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        raise DocumentError(f"{url!r} is not a valid web address.") from None
    if parsed.scheme and parsed.scheme not in ("http", "https"):
        raise DocumentError(f"Only http:// and https:// addresses can be fetched, not {parsed.scheme}: ones.")
    if not parsed.scheme or not parsed.host:
        raise DocumentError(f"{url!r} is not a full web address; it should start with https://.")
    if not _HOST_NAME.fullmatch(parsed.raw_host.decode("ascii")):
        raise DocumentError(f"{url!r} is not a valid web address.")
    return parsed.copy_with(fragment=None, username=None, password=None)


def _next_hop(current: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect leads, held to the same rules as the first address."""
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError):
        raise DocumentError("The page redirected to an invalid address.") from None
    if target.scheme not in ("http", "https"):
        raise DocumentError(f"The page redirected to a {target.scheme}: address, which is not fetched.")
    if not _HOST_NAME.fullmatch(target.raw_host.decode("ascii")):
        raise DocumentError("The page redirected to an invalid address.")
    return target.copy_with(fragment=None, username=None, password=None)


def _status_error(response: httpx.Response) -> DocumentError:
    # The standard phrase, not the server's: a server's reason text is neither checked nor needed.
    reason = httpx.codes.get_reason_phrase(response.status_code)
    return DocumentError(f"The page returned HTTP {response.status_code}" + (f" ({reason})." if reason else "."))


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _declared_suffix(media_type: str) -> str | None:
    """The loader for a declared type; None when the type says nothing and the body must be sniffed."""
    if media_type in _SUFFIXES:
        return _SUFFIXES[media_type]
    if media_type in _UNTYPED:
        return None
    raise DocumentError(f"The address serves {media_type}, not a web page, PDF or text file.")


def _sniffed_suffix(body: bytes, media_type: str) -> str:
    """The type of an untyped body, recognized only by unmistakable openings: a PDF's magic bytes or
    an HTML document's first tag. Anything else may be any binary file, so it is refused."""
    head = body[:512].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if body.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith((b"<!doctype html", b"<html")):
        return ".html"
    raise DocumentError(f"The address serves a file of unknown type ({media_type or 'no type given'}), not a web page.")


def _check_length(response: httpx.Response, plan: _Plan) -> None:
    """Refuse a body announced as too large before reading any of it."""
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return
    if length > plan.max_bytes:
        raise plan.too_large()


def _read_body(response: httpx.Response, plan: _Plan) -> bytes:
    """The (decompressed) body, stopped as soon as it passes the size limit or the deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > plan.max_bytes:
            raise plan.too_large()
        plan.remaining()
        chunks.append(chunk)
    return b"".join(chunks)


def _read(response: httpx.Response, plan: _Plan) -> _Fetched:
    """The final response's body and how to load it, or a clear error."""
    if not 200 <= response.status_code < 300:
        raise _status_error(response)
    media_type = _media_type(response)
    suffix = _declared_suffix(media_type)
    _check_length(response, plan)
    body = _read_body(response, plan)
    if not body.strip():
        raise DocumentError("The page is empty.")
    return _Fetched(suffix or _sniffed_suffix(body, media_type), response.charset_encoding, body)


def _connect_message(host: str, exc: Exception) -> str:
    if isinstance(exc.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return f"The secure connection to {host} could not be verified (its certificate is not valid)."
    return f"Could not connect to {host}."


@contextlib.contextmanager
def _network_errors(host: str, plan: _Plan) -> Iterator[None]:
    """Turn the network's exceptions into short messages (the chain is dropped: no stack traces)."""
    try:
        yield
    except (httpcore.TimeoutException, httpx.TimeoutException):
        raise plan.timed_out() from None
    except (httpcore.ConnectError, httpx.ConnectError) as exc:
        raise DocumentError(_connect_message(host, exc)) from None
    except httpx.DecodingError:
        raise DocumentError(f"{host} sent a page whose compression is corrupt.") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, httpx.HTTPError):
        if time.monotonic() >= plan.deadline:
            raise plan.timed_out() from None
        raise DocumentError(f"The connection to {host} failed.") from None


def _client(backend: _GuardedBackend, user_agent: str, ssl_context: ssl.SSLContext | None) -> httpx.Client:
    headers = {"User-Agent": user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate"}
    transport = _GuardedTransport(backend, ssl_context or httpx.create_ssl_context())
    # trust_env=False: no proxy from the environment, which would resolve (and reach) hosts itself.
    return httpx.Client(transport=transport, headers=headers, trust_env=False, follow_redirects=False)


def _fetch(client: httpx.Client, start: httpx.URL, plan: _Plan) -> _Fetched:
    """GET the URL, following at most ``plan.max_redirects`` redirects by hand."""
    url = start
    with client:
        for _ in range(plan.max_redirects + 1):
            timeout = httpx.Timeout(plan.remaining())
            with _network_errors(url.host, plan), client.stream("GET", url, timeout=timeout) as response:
                location = response.headers.get("location")
                if response.status_code not in _REDIRECTS or not location:
                    return _read(response, plan)
            url = _next_hop(url, location)
    raise DocumentError(f"The page redirected more than {plan.max_redirects} times.")


def _within(timeout: float, work: Callable[[], T], abort: Callable[[], None], timed_out: DocumentError) -> T:
    """Run ``work`` in a worker thread and wait at most ``timeout`` seconds for it; past that, call
    ``abort`` (which makes the worker's blocked reads fail) and raise ``timed_out``."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # handed to the waiting thread, which raises it
            failure.append(exc)

    worker = threading.Thread(target=run, name="fetch-document", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        abort()
        raise timed_out
    if failure:
        raise failure[0]
    return outcome[0]


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _host(url: httpx.URL) -> str:
    return url.raw_host.decode("ascii").lower().rstrip(".").removeprefix("www.")


def canonical_url(url: str) -> str:
    """What makes two addresses the same page for naming: host (without "www."), port, path
    (without trailing slash) and query (without tracking parameters); not scheme or fragment."""
    parsed = httpx.URL(url)
    path, _, query = parsed.raw_path.decode("ascii").partition("?")
    kept = [pair for pair in query.split("&") if pair and not _TRACKING.fullmatch(pair.partition("=")[0])]
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{_host(parsed)}{port}{path.rstrip('/')}" + (f"?{'&'.join(kept)}" if kept else "")


def source_name(url: str, suffix: str) -> str:
    """A readable, file-name-safe, stable and unique document name for a URL (see the module notes),
    e.g. ``example.com-news-2024-05-bridge-reopens-3f9a1c2e4b.html``."""
    parsed = httpx.URL(url)
    words = _slug(_WEB_SUFFIX.sub("", unquote(parsed.path)))
    stem = "-".join(part for part in (_host(parsed), words) if part)
    if len(stem) > _MAX_STEM:
        stem = stem[:_MAX_STEM].rsplit("-", 1)[0]
    digest = hashlib.sha256(canonical_url(url).encode()).hexdigest()[:10]
    return f"{stem}-{digest}{suffix}"


def fetch_document(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    allow_private: bool = False,
    user_agent: str = DEFAULT_USER_AGENT,
    resolver: Resolver | None = None,
    address_allowed: AddressPolicy | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> LoadedDocument:
    """Fetch a web page, PDF or text file and load it as a document (HTML: the article only).

    ``timeout`` bounds the whole fetch, redirects and body included. ``resolver`` (default: the
    system's) and ``address_allowed`` (default: public addresses only, or any with ``allow_private``)
    decide where connections may go; ``ssl_context`` replaces the default trust store (a private CA).
    Every failure is a ``DocumentError`` with a short message for the person who gave the URL.
    """
    start = _parse_url(url)
    guard = _AddressGuard(resolver or resolve_host, address_allowed or address_policy(allow_private), not allow_private)
    backend = _GuardedBackend(guard)
    plan = _Plan(max_bytes, timeout, time.monotonic() + timeout, max_redirects)
    client = _client(backend, user_agent, ssl_context)
    fetched = _within(timeout, lambda: _fetch(client, start, plan), backend.abort, plan.timed_out())
    return load_bytes(fetched.body, source_name(str(start), fetched.suffix), charset=fetched.charset, url=str(start))
