"""Self-signed TLS certificates for tests that serve HTTPS on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path


def self_signed(cert: Path, key_file: Path, common_name: str = "pipetune test",
                dns_names: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Writes a certificate for 127.0.0.1 (and ``dns_names``) signed by its own key, its own
    CA, to the PEM files ``cert`` and ``key_file``; returns them."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    alternative: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    alternative.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert, key_file
