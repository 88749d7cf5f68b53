"""RTMPS beside RTMP: grtmp-server with --tls-cert/--tls-key, FFmpeg over rtmps://."""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import signal
import sys

import gevent
import gevent.subprocess
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_rtmps_publish_and_play_beside_rtmp(tmp_path, av_peers):
    cert, key = _self_signed(tmp_path)
    exe = shutil.which("grtmp-server")
    cmd = [exe] if exe else [sys.executable, "-m", "grtmp.cli.server"]
    proc = gevent.subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", "0", "--tls-port", "0", "--tls-cert", cert,
         "--tls-key", key], stderr=gevent.subprocess.PIPE, text=True)
    try:
        ports = {}
        with gevent.Timeout(20):
            while len(ports) < 2:
                line = proc.stderr.readline()
                assert line, "server exited early"
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)( \(rtmps\))?", line)
                if m:
                    ports["rtmps" if m.group(2) else "rtmp"] = int(m.group(1))
        gevent.spawn(lambda: [None for _ in proc.stderr])
        secure = f"rtmps://127.0.0.1:{ports['rtmps']}/live/tls"
        plain = f"rtmp://127.0.0.1:{ports['rtmp']}/live/tls"
        pub = av_peers("publish", secure, "--frames", "60", "--linger", "0.5")
        gevent.sleep(1.0)
        # One player over TLS, one over plain RTMP: same hub, same stream.
        p_tls = av_peers("play", secure, "--timeout", "20")
        p_plain = av_peers("play", plain, "--timeout", "20")
        sent = pub.result(60)
        assert "error" not in sent, sent
        for peer in (p_tls, p_plain):
            got = peer.result(60)
            assert "error" not in got, got
            assert got["video_frames"] > 0 and got["first_video_keyframe"] is True
            assert got["hashes"][-1] == sent["hashes"][-1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
