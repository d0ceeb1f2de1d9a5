"""Native TLS for the listener (issue 11): ``tls_cert_file`` and ``tls_key_file`` in
websocket.json make ``/``, ``/health``, ``/ws`` and ``/metrics`` HTTPS and WSS.

OpenSSL forbids using one SSL object from two threads at once (an ``SSLSocket`` read by
simple-websocket's reader thread while the handler thread writes can crash the interpreter:
CPython issue 151508). So each TLS connection gets a :class:`Tunnel`: one thread owns its
``SSLObject`` (memory BIOs, no socket of its own) and relays cleartext through a socketpair;
the handler serves the other end exactly like a plain TCP connection, with everything the
plain path relies on (``MSG_PEEK`` header reads, non-blocking locked sends, ``TIOCOUTQ``,
lingering closes) unchanged. The tunnel buffers at most :data:`BUFFER` bytes each way, so a
client that stops reading still fills the handler's socket and is judged by ``send_timeout``.

The handshake must finish within ``header_timeout`` of the accept (the handler's header
deadline runs from the accept too); a plain HTTP request to the TLS port gets a plain 400 that
says so, and a line in the log, never a traceback.
"""

import base64
import binascii
import calendar
import errno
import logging
import os
import re
import socket
import ssl
import threading
import time

from ..errors import TLSError
from .sockets import ready

log = logging.getLogger("sysmedic.http")
BUFFER = 64 * 1024  # cleartext or ciphertext held by a tunnel in each direction, at most
LINGER = 2.0  # seconds a tunnel waits for the peer once the handler has closed
_PLAIN = b'{"error":"This port serves HTTPS: use https:// or wss://"}\n'
PLAIN_HTTP_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n" % len(_PLAIN)) + _PLAIN
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def _read_file(path):
    from ..home import _read_regular
    return _read_regular(path, 1 << 20)


def load_context(cert_file, key_file, now=None, read=_read_file):
    """A server SSLContext (TLS 1.2 or newer) for ``cert_file`` and ``key_file``.

    :param read: ``read(path) -> (bytes, mode)``; the daemon passes one that reads with its
        home owner's rights when it runs as root in another user's home. What it read is what
        OpenSSL loads (from memory), never the path again.
    :raises TLSError: one line naming the file: unreadable, not PEM, an encrypted key, a key
        that does not match the certificate, a certificate expired or not yet valid.
    """
    found = {}
    for name, path in (("tls_cert_file", cert_file), ("tls_key_file", key_file)):
        try:
            data, mode = read(path)
        except OSError as err:
            raise TLSError("%s %s: %s" % (name, path, err.strerror or err))
        if name == "tls_key_file" and mode & 0o004:
            raise TLSError("tls_key_file %s: everyone may read it (chmod o-r, or 0600)" % path)
        if name == "tls_cert_file":
            not_before, not_after = certificate_validity(data, path)
        found[name] = data
    current = time.time() if now is None else now
    if current > not_after:
        raise TLSError("tls_cert_file %s: the certificate expired on %s" % (cert_file, _day(not_after)))
    if current < not_before:
        raise TLSError("tls_cert_file %s: the certificate is not valid before %s" % (cert_file, _day(not_before)))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        with _in_memory(found["tls_cert_file"]) as cert, _in_memory(found["tls_key_file"]) as key:
            context.load_cert_chain(cert or cert_file, key or key_file, password=_no_password)
    except TLSError:
        raise TLSError("tls_key_file %s: the key is encrypted (a daemon cannot ask for its password)" % key_file)
    except ssl.SSLError as err:
        if "KEY_VALUES_MISMATCH" in str(err) or "key values mismatch" in str(err):
            raise TLSError("tls_key_file %s does not match the certificate in %s" % (key_file, cert_file))
        raise TLSError("tls_cert_file %s / tls_key_file %s: %s" % (cert_file, key_file, err.reason or err))
    return context


class _in_memory:
    """``data`` as a path OpenSSL can open (an anonymous memory file, ``/proc/self/fd/N``),
    closed after; None where the system has no ``memfd_create`` (then the file's own path is
    used)."""

    def __init__(self, data):
        self._data = data
        self._fd = None

    def __enter__(self):
        if not hasattr(os, "memfd_create"):
            return None
        try:
            self._fd = os.memfd_create("sysmedic-tls", os.MFD_CLOEXEC)
        except OSError:
            return None
        view = memoryview(self._data)
        while view:
            view = view[os.write(self._fd, view):]
        return "/proc/self/fd/%d" % self._fd

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)


def _no_password():
    raise TLSError("encrypted key")


def _day(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def certificate_validity(pem, path="certificate"):
    """``(not_before, not_after)`` epoch seconds of the first certificate in ``pem`` (bytes).

    :raises TLSError: when there is no PEM certificate or it cannot be read.
    """
    match = _PEM_CERT.search(pem)
    if not match:
        raise TLSError("tls_cert_file %s: no PEM certificate in it" % path)
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        _, start, end = _element(der, 0)  # Certificate
        _, start, end = _element(der, start)  # TBSCertificate
        tag, _, after = _element(der, start)
        if tag == 0xA0:  # [0] version
            start = after
        for _ in range(3):  # serialNumber, signature, issuer
            _, _, start = _element(der, start)
        _, pos, _ = _element(der, start)  # Validity
        first = _element(der, pos)
        second = _element(der, first[2])
        return _asn1_time(der, first), _asn1_time(der, second)
    except (binascii.Error, IndexError, ValueError):
        raise TLSError("tls_cert_file %s: the certificate cannot be read" % path)


def _element(der, pos):
    """``(tag, content start, content end)`` of the DER element at ``pos``."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4:
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos:pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("DER element past the end")
    return tag, pos, pos + length


def _asn1_time(der, element):
    tag, start, end = element
    text = der[start:end].decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ: 50-99 are 19xx (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("not a time")
    return calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S"))


class Tunnel:
    """One TLS connection: the raw TCP socket on one side, a socketpair end (:attr:`inner`,
    for the handler) on the other, and the thread that owns the SSL object between them.

    :param timeout: seconds the handshake may take from now (the header deadline).
    """

    def __init__(self, raw, context, timeout, peer):
        self.inner, self._outer = socket.socketpair()
        self._raw = raw
        self._peer = peer
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._deadline = time.monotonic() + timeout
        self._to_raw = bytearray()
        self._to_inner = bytearray()
        self._early = bytearray()  # cleartext the handler wrote before the handshake finished
        self._handshaken = False
        self._first = True
        self._raw_eof = self._inner_eof = False
        self._raw_shut = self._inner_shut = False

    def start(self):
        """Start the tunnel's thread; returns the socket for the handler."""
        thread = threading.Thread(target=self.run, name="tls:%s" % self._peer, daemon=True)
        try:
            thread.start()
        except BaseException:
            self.close()
            self.inner.close()
            raise
        return self.inner

    def run(self):
        try:
            self._raw.setblocking(False)
            self._outer.setblocking(False)
            while self._step():
                pass
        except Exception:  # a bug here must show, but ends this connection only
            log.exception("%s TLS tunnel failed", self._peer)
        finally:
            self.close()

    def close(self):
        for sock in (self._raw, self._outer):
            try:
                sock.close()
            except OSError:
                pass

    def _step(self):
        """One wait and what it allows; False when the connection is done."""
        if self._raw_shut and self._inner_shut:
            return False
        reading, writing = [], []
        if not self._raw_eof and len(self._to_inner) < BUFFER:
            reading.append(self._raw)
        if not self._inner_eof and len(self._to_raw) < BUFFER:
            reading.append(self._outer)
        if self._to_raw:
            writing.append(self._raw)
        if self._to_inner:
            writing.append(self._outer)
        timeout = None
        if not self._handshaken or self._inner_eof:
            timeout = self._deadline - time.monotonic()
            if timeout <= 0:
                if not self._handshaken:
                    log.info("%s TLS handshake not finished in time: closed", self._peer)
                return False
        if not reading and not writing:
            return False
        readable, writable = ready(reading, writing, timeout)
        if self._raw in readable and not self._from_raw():
            return False
        if self._outer in readable and not self._from_inner():
            return False
        if self._raw in writable or self._to_raw:
            if not self._send(self._raw, self._to_raw):
                return False
        if self._outer in writable or self._to_inner:
            if not self._send(self._outer, self._to_inner):
                return False
        self._shut_when_flushed()
        return True

    def _from_raw(self):
        try:
            data = self._raw.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            self._raw_eof = True
            if not self._handshaken:
                return False
            self._incoming.write_eof()
        elif self._first and data[:1] != b"\x16":  # a TLS connection opens with a handshake record
            if data[:1].isalpha():  # a plain HTTP request: say so in HTTP, then close
                log.info("%s plain HTTP on the TLS port: answered 400", self._peer)
                self._plain_reply()
            else:
                log.info("%s TLS handshake failed: not a TLS client", self._peer)
            return False
        else:
            self._first = False
            self._incoming.write(data)
        return self._advance()

    def _plain_reply(self):
        try:
            self._raw.send(PLAIN_HTTP_REPLY, socket.MSG_DONTWAIT)
            self._raw.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _advance(self):
        """Run the handshake, then decrypt what arrived; False when the connection must end."""
        try:
            if not self._handshaken:
                self._tls.do_handshake()
                self._handshaken = True
                if self._early:
                    self._tls.write(bytes(self._early))
                    del self._early[:]
            while True:
                chunk = self._tls.read(65536)
                if not chunk:  # the peer's close_notify: SSLObject.read gives b"" for it
                    self._raw_eof = True
                    break
                self._to_inner += chunk
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):  # close_notify, or a FIN without one
            self._raw_eof = True
        except ssl.SSLError as err:
            self._flush_alert()
            log.info("%s TLS %s failed: %s", self._peer, "connection" if self._handshaken else "handshake",
                     err.reason or err.strerror or err)
            return False
        self._to_raw += self._outgoing.read()
        return True

    def _flush_alert(self):
        """Send the alert OpenSSL wrote on a failure (the client then names the reason)."""
        try:
            self._raw.send(self._outgoing.read(), socket.MSG_DONTWAIT)
        except OSError:
            pass

    def _from_inner(self):
        try:
            data = self._outer.recv(65536)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        if not data:
            self._inner_eof = True
            if not self._handshaken:  # the HTTP side gave up first: the same header deadline ran out
                log.info("%s TLS handshake not finished in time: closed", self._peer)
                return False
            self._deadline = time.monotonic() + LINGER
            try:
                self._tls.unwrap()  # writes our close_notify
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass
        elif self._handshaken:
            try:
                self._tls.write(data)
            except ssl.SSLError as err:  # e.g. the peer's close_notify came first: nothing more goes
                log.debug("%s TLS write after the end: %s", self._peer, err)
                return False
        else:
            self._early += data
        self._to_raw += self._outgoing.read()
        return True

    @staticmethod
    def _send(sock, buffer):
        if not buffer:
            return True
        try:
            sent = sock.send(buffer)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError as err:
            if err.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                log.debug("TLS tunnel send: %s", err)
            return False
        del buffer[:sent]
        return True

    def _shut_when_flushed(self):
        """Pass an end of stream on once everything before it is delivered."""
        if self._raw_eof and not self._to_inner and not self._inner_shut:
            self._inner_shut = True
            _shutdown_write(self._outer)
        if self._inner_eof and not self._to_raw and not self._raw_shut:
            self._raw_shut = True
            _shutdown_write(self._raw)


def _shutdown_write(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


__all__ = ["TLSError", "Tunnel", "certificate_validity", "load_context"]
